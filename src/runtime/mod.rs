//! The runtime stage: tensors on libtorch.
//!
//! | room | job |
//! |---|---|
//! | [`lower`], [`spec`] | the checked program as typed node specs (the only reader of built-in names); [`lower::bounds`]: memory bounds before work |
//! | [`exec`] | runs a lowered program node by node (build, training, evaluate, analyze, probe), with the [`cache`] (and its [`cache::lock`]) |
//! | [`data`] | clips in batches: procedural ([`data::synthetic`]), safetensors, UCF101/HMDB51 frame folders and their splits ([`data::frames`]) |
//! | [`models`] | the networks: C3D-small, 3D ResNets and ResNeXt-101 ([`models::resnet`]), 3D APE-GAN's G and D ([`models::ape_nets`]), TorchScript modules ([`models::torchscript`]); the layers they share |
//! | [`attacks`] | one type per attack, each an [`attacks::AttackKind`], and the [`attacks::Attack`] enum over them: the PGD core ([`attacks::pgd`]: L∞, L2), [`attacks::fgsm`], [`attacks::apgd`], [`attacks::square`], the video attacks ([`attacks::masks`]: patch and border, [`attacks::saliency`], [`attacks::flicker`]), [`attacks::eot`] over a gradient attack, [`attacks::ensemble`] |
//! | [`train`] | the loop over standard, AT, CAT, AAT (its checkpoint; [`train::methods`]: FGSM-RS, free AT, TRADES, MART); [`train::optim`]: SGD and Adam with checkpointed state; [`train::generative`]: APE-GAN training and GAT |
//! | [`eval`] | robustness tables (one record per clip) and their sanity flags ([`eval::sanity`]); [`eval::analysis`]: loss surface, step-size fit (the optimal α per ε), generalization gap |
//! | [`defenses`] | H.264 compression (BPDA), a trained generator in front of a model |
//! | [`error`] | why a node stopped, as a type ([`error::NodeError`]): interrupted, I/O with its path, libtorch, or a failure in words |
//! | [`precision`] | autocast regions (`precision bf16 \| fp16`) around every forward pass and fp16 loss scaling: used by [`models`] and [`train`], so it sits above both |
//! | `bridge` | the embedded Python (feature `python`): its `sys.path` and the one-libtorch check, tensors handed over without a copy, Python errors in words; used by `models::python` and [`dist`] |
//! | [`dist`] | past one device: a node's ranks on torch.distributed (c10d), from `advp run --ranks`/`--gpus`, torchrun or a Slurm step; sharded batches, summed gradients, synced BatchNorm, gathered records |
//! | [`device`], [`progress`], [`provenance`] | the device and threads; progress bars; the input files a cached result was computed from |

pub mod attacks;
#[cfg(feature = "python")]
pub mod bridge;
pub mod cache;
pub mod data;
pub mod defenses;
pub mod device;
pub mod dist;
pub mod error;
pub mod eval;
pub mod exec;
pub mod lower;
pub mod models;
pub mod precision;
pub mod progress;
pub mod provenance;
pub use crate::util::rng;
pub mod spec;
pub mod train;

/// Tests that seed libtorch's one random generator and compare what two
/// seeded runs draw: the other tests of this binary, running at once,
/// draw from the same generator in between. Such a test runs its body in
/// a child process of the test binary, alone.
#[cfg(test)]
pub(crate) mod alone {
    /// `true` in the child, where the test's body runs; in the parent it
    /// runs test `name` (its full path) alone in a child, fails as the
    /// child failed, and gives `false` (the test returns).
    pub fn in_child(name: &str) -> bool {
        if std::env::var_os("ADVP_TEST_ALONE").is_some() {
            return true;
        }
        let exe = std::env::current_exe().expect("the test binary");
        let out = std::process::Command::new(exe)
            .args([name, "--exact", "--test-threads", "1"])
            .env("ADVP_TEST_ALONE", "1")
            .output()
            .expect("the test binary runs");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "{name}, alone:\n{text}");
        assert!(
            text.contains("1 passed"),
            "{name} did not run alone:\n{text}"
        );
        false
    }
}
