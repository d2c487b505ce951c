//! The runtime stage: tensors on libtorch.
//!
//! | module | job |
//! |---|---|
//! | [`lower`], [`spec`] | the checked program as typed node specs (the only reader of built-in names) |
//! | [`exec`] | runs a lowered program node by node, with the [`cache`] |
//! | [`data`] | clips: procedural, safetensors, UCF101/HMDB51 folders |
//! | [`models`] | C3D-small, 3D ResNets, ResNeXt-101, TorchScript |
//! | [`attacks`] | the PGD core (FGSM, L∞, L2); patch, border, saliency, flicker; the attack enum over both |
//! | [`train`], [`optim`] | standard, AT, CAT, AAT; SGD and Adam with checkpointed state |
//! | [`precision`] | autocast regions (`precision bf16 \| fp16`) and fp16 loss scaling |
//! | [`generative`] | 3D APE-GAN's G and D, APE-GAN training and GAT |
//! | [`defenses`] | H.264 compression (BPDA), a trained generator in front of a model |
//! | [`eval`] | robustness tables |
//! | [`analysis`] | loss surface, step-size fit (the optimal α per ε) |

pub mod attacks;
pub mod cache;
pub mod data;
pub mod defenses;
pub mod device;
pub mod eval;
pub mod exec;
pub mod lower;
pub mod models;
pub mod progress;
pub mod provenance;
pub use crate::util::rng;
pub mod spec;
pub mod train;
