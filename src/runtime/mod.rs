//! The runtime stage: tensors on libtorch.
//!
//! | module | job |
//! |---|---|
//! | [`exec`] | runs a planned program node by node, with the [`cache`] |
//! | [`data`], [`synthetic`], [`frames`] | clips: procedural, safetensors, UCF101/HMDB51 folders |
//! | [`models`], [`resnet`] | C3D-small, 3D ResNets, ResNeXt-101, TorchScript |
//! | [`attacks`] | FGSM, PGD (L∞, L2) |
//! | [`train`], [`optim`] | standard, AT, CAT, AAT; SGD and Adam with checkpointed state |
//! | [`generative`] | 3D APE-GAN's G and D, APE-GAN training and GAT |
//! | [`defenses`] | H.264 compression (BPDA), a trained generator in front of a model |
//! | [`eval`] | robustness tables |
//! | [`analysis`] | loss surface, step-size fit (the optimal α per ε) |

pub mod analysis;
pub mod attacks;
pub mod cache;
pub mod data;
pub mod defenses;
pub mod device;
pub mod eval;
pub mod exec;
pub mod frames;
pub mod generative;
pub mod models;
pub mod optim;
pub mod progress;
pub mod resnet;
pub mod rng;
pub mod synthetic;
pub mod train;
pub mod video_attacks;
