//! `device auto | cpu | cuda | cuda:N` resolved against the machine, and `threads`.

use crate::language::program::{Device, Settings};

/// The device a run uses, and a note for the user when `auto` chose for them.
#[derive(Debug)]
pub struct Chosen {
    pub device: tch::Device,
    pub note: Option<String>,
}

/// A GPU the file asks for that this machine does not have: refused before
/// any node runs, naming what is there.
#[derive(Debug, PartialEq, thiserror::Error)]
pub enum NoSuchDevice {
    /// `cuda:N` where libtorch sees no GPU at all.
    #[error("device cuda:{0} was asked for, but libtorch sees no CUDA GPU; use `device auto` or `device cpu`, or `--set device=cpu`")]
    NoGpu(usize),
    /// `cuda:N` beyond the GPUs there are (`last`: the highest index).
    #[error("device cuda:{asked} was asked for, but only cuda:0..cuda:{last} exist")]
    Beyond { asked: usize, last: usize },
}

/// Resolves the file's device: `auto` falls back to the CPU and says so;
/// asking for a GPU that is not there is an error naming what is.
pub fn resolve(requested: &Device) -> Result<Chosen, NoSuchDevice> {
    let gpus = if tch::Cuda::is_available() {
        tch::Cuda::device_count().max(0) as usize
    } else {
        0
    };
    match requested {
        Device::Cpu => Ok(Chosen {
            device: tch::Device::Cpu,
            note: None,
        }),
        Device::Auto if gpus > 0 => {
            // One rank of several on a machine that shows it several GPUs
            // (torchrun, a Slurm step): the GPU of its local rank.
            let k = crate::runtime::dist::World::from_env()
                .ok()
                .flatten()
                .map_or(0, |w| w.local_rank % gpus);
            Ok(Chosen {
                device: tch::Device::Cuda(k),
                note: Some(format!("device auto: using cuda:{k} ({gpus} GPU(s) found)")),
            })
        }
        Device::Auto => Ok(Chosen {
            device: tch::Device::Cpu,
            note: Some("device auto: no CUDA GPU found, running on the CPU".into()),
        }),
        Device::Cuda(n) if *n < gpus => Ok(Chosen {
            device: tch::Device::Cuda(*n),
            note: None,
        }),
        Device::Cuda(n) if gpus == 0 => Err(NoSuchDevice::NoGpu(*n)),
        Device::Cuda(n) => Err(NoSuchDevice::Beyond {
            asked: *n,
            last: gpus - 1,
        }),
    }
}

/// Applies `threads` to libtorch's intra-op pool: the file's setting, else
/// `ADVP_THREADS` (set by `advp run --jobs N` for each node's share of the
/// cores), else all cores.
pub fn apply_threads(settings: &Settings) -> usize {
    let n = settings
        .threads
        .or_else(|| {
            std::env::var("ADVP_THREADS")
                .ok()
                .and_then(|v| v.parse().ok())
                .filter(|&n: &usize| n > 0)
        })
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    tch::set_num_threads(n as i32);
    n
}

/// One line about the machine: libtorch, CUDA, threads.
/// The reproducibility record of this process on `device`.
pub fn machine(device: tch::Device) -> crate::results::Machine {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| std::env::consts::ARCH.to_string());
    let gpu = match device {
        tch::Device::Cuda(_) => std::process::Command::new("nvidia-smi")
            .args(["--query-gpu=name", "--format=csv,noheader"])
            .output()
            .ok()
            .filter(|o| o.status.success())
            .and_then(|o| {
                String::from_utf8_lossy(&o.stdout)
                    .lines()
                    .next()
                    .map(str::to_string)
            }),
        _ => None,
    };
    crate::results::Machine {
        advp: env!("CARGO_PKG_VERSION").to_string(),
        libtorch: env!("ADVP_LIBTORCH_VERSION").to_string(),
        device: format!("{device:?}"),
        cpu,
        gpu,
        threads: tch::get_num_threads().max(1) as usize,
        ranks: crate::runtime::dist::joined().map(|w| w.size),
    }
}

pub fn describe() -> String {
    let cuda = if tch::Cuda::is_available() {
        format!("{} CUDA GPU(s)", tch::Cuda::device_count())
    } else {
        "no CUDA GPU".to_string()
    };
    format!(
        "libtorch linked, {cuda}, {} CPU thread(s) available",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_always_resolves_and_auto_never_fails() {
        assert_eq!(resolve(&Device::Cpu).unwrap().device, tch::Device::Cpu);
        let auto = resolve(&Device::Auto).unwrap();
        assert!(auto.note.is_some(), "auto says what it chose");
    }

    #[test]
    fn a_missing_gpu_is_a_clear_error() {
        if tch::Cuda::is_available() {
            let n = tch::Cuda::device_count() as usize;
            let err = resolve(&Device::Cuda(n)).unwrap_err();
            assert_eq!(
                err,
                NoSuchDevice::Beyond {
                    asked: n,
                    last: n - 1
                }
            );
            let err = err.to_string();
            assert!(err.contains("only cuda:0"), "{err}");
        } else {
            let err = resolve(&Device::Cuda(0)).unwrap_err();
            assert_eq!(err, NoSuchDevice::NoGpu(0));
            let err = err.to_string();
            assert!(err.contains("sees no CUDA GPU"), "{err}");
        }
    }

    #[test]
    fn tensors_run_on_the_chosen_device() {
        // 1 + 2 + … + 10 = 55, computed by libtorch.
        let d = resolve(&Device::Auto).unwrap().device;
        let t = tch::Tensor::arange(11, (tch::Kind::Float, d));
        assert_eq!(t.sum(tch::Kind::Float).double_value(&[]), 55.0);
    }
}
