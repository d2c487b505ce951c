//! Mixed precision: autocast regions around models' forward passes
//! (`precision bf16 | fp16`) and fp16's dynamic loss scaling.
//!
//! The region is libtorch's own autocast (`csrc/autocast.cpp` reaches the
//! switches tch does not expose): inside it, convolutions and matrix products
//! run in the low precision and reductions in fp32, as under `torch.autocast`.
//! Only forward passes run inside; the logits come out in fp32, so losses,
//! gradients with respect to the input, and every attack's δ stay fp32.
//!
//! The crate's one `unsafe`: four calls into `csrc/autocast.cpp`, each with
//! plain integer arguments and no pointers.
#![allow(unsafe_code)]

use crate::language::program::Precision;
use tch::{Device, Kind, Tensor};

extern "C" {
    fn advp_autocast_enabled(device: i8) -> bool;
    fn advp_autocast_dtype(device: i8) -> i8;
    fn advp_autocast_enter(device: i8, dtype: i8);
    fn advp_autocast_exit(device: i8, enabled: bool, dtype: i8);
    fn advp_mkldnn_enabled() -> bool;
    fn advp_set_mkldnn(enabled: bool);
}

/// libtorch's `c10::DeviceType` of a device that autocast knows.
fn device_type(d: Device) -> Option<i8> {
    match d {
        Device::Cpu => Some(0),
        Device::Cuda(_) => Some(1),
        _ => None,
    }
}

/// The low-precision kind of `p`, `None` for fp32.
pub fn kind(p: Precision) -> Option<Kind> {
    match p {
        Precision::Fp32 => None,
        Precision::Bf16 => Some(Kind::BFloat16),
        Precision::Fp16 => Some(Kind::Half),
    }
}

/// libtorch's `c10::ScalarType` number of a low precision.
fn scalar_type(p: Precision) -> Option<i8> {
    match p {
        Precision::Fp32 => None,
        Precision::Fp16 => Some(5),
        Precision::Bf16 => Some(15),
    }
}

/// An autocast region on one device, closed (and the previous state restored)
/// when dropped. Autocast state is per thread, like `torch.autocast`'s.
pub struct Autocast {
    device: i8,
    enabled: bool,
    dtype: i8,
}

impl Autocast {
    /// Opens a region for `p` on `device`; `None` for fp32 or a device
    /// autocast does not cover.
    pub fn enter(p: Precision, device: Device) -> Option<Autocast> {
        let k = scalar_type(p)?;
        let dev = device_type(device)?;
        // SAFETY: plain value arguments to libtorch's thread-local switches.
        unsafe {
            let (enabled, dtype) = (advp_autocast_enabled(dev), advp_autocast_dtype(dev));
            advp_autocast_enter(dev, k);
            Some(Autocast {
                device: dev,
                enabled,
                dtype,
            })
        }
    }

    /// Whether autocast is on for `device` in this thread.
    pub fn active(device: Device) -> bool {
        // SAFETY: as above.
        device_type(device).is_some_and(|d| unsafe { advp_autocast_enabled(d) })
    }
}

impl Drop for Autocast {
    fn drop(&mut self) {
        // SAFETY: as above.
        unsafe { advp_autocast_exit(self.device, self.enabled, self.dtype) }
    }
}

/// `f` inside an autocast region for `p`; its tensor comes back in fp32.
pub fn autocast(p: Precision, device: Device, f: impl FnOnce() -> Tensor) -> Tensor {
    let out = {
        let _region = Autocast::enter(p, device);
        f()
    };
    if p != Precision::Fp32 && out.kind() != Kind::Float && out.is_floating_point() {
        out.to_kind(Kind::Float)
    } else {
        out
    }
}

/// libtorch's native CPU kernels instead of oneDNN's while it lives (the
/// previous switch restored on drop), for a node that runs in a low precision
/// on the CPU: libtorch 2.13's oneDNN bf16/fp16 convolutions give sporadic NaN
/// weight gradients that change from run to run (a 3D conv–BN net trained
/// under `torch.autocast("cpu")` from PyTorch itself shows them), so results
/// would be neither finite nor deterministic. It spans the node's backward
/// passes too, which run outside the autocast regions. The switch is
/// process-wide; a process runs one node at a time. `None` when not needed.
pub struct NativeCpuKernels {
    before: bool,
}

impl NativeCpuKernels {
    pub fn enter(p: Precision, device: Device) -> Option<NativeCpuKernels> {
        if p == Precision::Fp32 || device != Device::Cpu {
            return None;
        }
        // SAFETY: a boolean switch of libtorch's global context.
        unsafe {
            let before = advp_mkldnn_enabled();
            advp_set_mkldnn(false);
            Some(NativeCpuKernels { before })
        }
    }
}

impl Drop for NativeCpuKernels {
    fn drop(&mut self) {
        // SAFETY: as above.
        unsafe { advp_set_mkldnn(self.before) }
    }
}

/// Dynamic loss scaling for fp16 (PyTorch's `GradScaler` with its defaults:
/// scale 2¹⁶, halved on a non-finite gradient and the step skipped, doubled
/// after 2000 finite steps in a row).
#[derive(Clone, Debug, PartialEq)]
pub struct LossScale {
    pub scale: f64,
    /// Finite steps since the scale last changed.
    pub good: i64,
}

impl Default for LossScale {
    fn default() -> Self {
        LossScale {
            scale: 65536.0,
            good: 0,
        }
    }
}

pub const GROWTH_INTERVAL: i64 = 2000;

impl LossScale {
    /// Divides every defined gradient by the scale; whether all are finite.
    /// Updates the scale as `GradScaler.update` does.
    pub fn unscale(&mut self, params: &[(String, Tensor)]) -> bool {
        let _g = tch::no_grad_guard();
        let mut total: Option<Tensor> = None;
        for (_, p) in params {
            let mut g = p.grad();
            if !g.defined() {
                continue;
            }
            let _ = g.g_mul_scalar_(1.0 / self.scale);
            let s = g.sum(Kind::Double);
            total = Some(match total {
                Some(t) => t + s,
                None => s,
            });
        }
        let finite = total.is_none_or(|t| t.double_value(&[]).is_finite());
        if finite {
            self.good += 1;
            if self.good == GROWTH_INTERVAL {
                self.scale *= 2.0;
                self.good = 0;
            }
        } else {
            self.scale *= 0.5;
            self.good = 0;
        }
        finite
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn autocast_runs_a_matmul_in_bf16_and_restores_the_state() {
        let a = Tensor::from_slice(&[1.0f32, 2.0, 3.0, 4.0]).view([2, 2]);
        assert!(!Autocast::active(Device::Cpu));
        let inside = {
            let _r = Autocast::enter(Precision::Bf16, Device::Cpu).expect("cpu region");
            assert!(Autocast::active(Device::Cpu));
            a.matmul(&a).kind()
        };
        assert_eq!(inside, Kind::BFloat16);
        assert!(!Autocast::active(Device::Cpu));
        assert_eq!(a.matmul(&a).kind(), Kind::Float);
        // The helper hands fp32 back; fp32 opens no region.
        assert_eq!(
            autocast(Precision::Bf16, Device::Cpu, || a.matmul(&a)).kind(),
            Kind::Float
        );
        assert!(Autocast::enter(Precision::Fp32, Device::Cpu).is_none());
    }

    #[test]
    fn loss_scale_skips_and_halves_on_overflow_then_grows() {
        let p = Tensor::from_slice(&[1.0f32]).set_requires_grad(true);
        let params = vec![("p".to_string(), p.shallow_clone())];
        let mut s = LossScale::default();
        (&p * 3.0 * s.scale).sum(Kind::Float).backward();
        assert!(s.unscale(&params));
        assert_eq!(p.grad().double_value(&[0]), 3.0);
        let _ = p.grad().zero_();
        (&p * f64::INFINITY).sum(Kind::Float).backward();
        assert!(!s.unscale(&params));
        assert_eq!(s.scale, 32768.0);
        s.good = GROWTH_INTERVAL - 1;
        let _ = p.grad().zero_();
        (&p * s.scale).sum(Kind::Float).backward();
        assert!(s.unscale(&params));
        assert_eq!((s.scale, s.good), (65536.0, 0));
    }
}
