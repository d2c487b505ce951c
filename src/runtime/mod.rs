//! The runtime stage: tensors on libtorch. So far: choosing the device.

pub mod device;
