//! The runtime stage: tensors on libtorch.

pub mod device;
pub mod frames;
pub mod resnet;
