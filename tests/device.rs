//! Device-marked tests: the same checks on the device `ADVP_TEST_DEVICE`
//! names (`cpu`, the default, in the suite; `cuda` under `scripts/gpu-check`,
//! where a missing GPU is a failure, not a skip).

use advp::runtime::attacks::{Norm, Pgd};
use advp::runtime::models::{Arch, ModelSpec, Net};
use std::process::Command;
use tch::{Device, Kind, Tensor};

fn device() -> Device {
    match std::env::var("ADVP_TEST_DEVICE").as_deref() {
        Ok("cuda") => {
            assert!(
                tch::Cuda::is_available(),
                "ADVP_TEST_DEVICE=cuda, but libtorch sees no GPU"
            );
            Device::Cuda(0)
        }
        _ => Device::Cpu,
    }
}

fn net(device: Device) -> Net {
    tch::manual_seed(0);
    Net::build(
        &ModelSpec {
            arch: Arch::C3dSmall { width: 4 },
            classes: 4,
            pretrained: None,
        },
        device,
    )
    .unwrap()
}

#[test]
fn pgd_on_the_device_stays_in_the_ball_and_matches_the_cpu_forward() {
    let dev = device();
    let (cpu, here) = (net(Device::Cpu), net(dev));
    tch::manual_seed(1);
    let x = Tensor::rand([4, 3, 4, 16, 16], (Kind::Float, Device::Cpu));
    let y = Tensor::from_slice(&[0i64, 1, 2, 3]);
    // The same weights give the same logits (to float tolerance) on both.
    let (lc, ld) = (
        cpu.forward(&x, false),
        here.forward(&x.to_device(dev), false)
            .to_device(Device::Cpu),
    );
    let diff = (&lc - &ld).abs().max().double_value(&[]);
    assert!(diff < 1e-3, "logits differ by {diff}");
    let pgd = Pgd {
        norm: Norm::Inf,
        eps: 8.0,
        alpha: 2.0,
        steps: 5,
        random_start: false,
    };
    let (xd, yd) = (x.to_device(dev), y.to_device(dev));
    let f = |v: &Tensor| here.forward(v, false);
    let adv = pgd.run(&f, &xd, &yd).unwrap();
    let d = (&adv - &xd).abs().max().double_value(&[]);
    assert!(d <= 8.0 / 255.0 + 1e-6, "‖δ‖∞ = {d}");
    assert!(adv.min().double_value(&[]) >= 0.0 && adv.max().double_value(&[]) <= 1.0);
    let loss = |v: &Tensor| f(v).cross_entropy_for_logits(&yd).double_value(&[]);
    assert!(loss(&adv) > loss(&xd), "PGD raised the loss on {dev:?}");
}

#[test]
fn a_pipeline_trains_and_evaluates_on_the_device() {
    let dev = match device() {
        Device::Cuda(_) => "cuda",
        _ => "cpu",
    };
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("p.advp"),
        "data d = synthetic(classes: 4, frames: 4, size: 16, train: 32, test: 16, val: 8)\n\
         model net = c3d_small(classes: d.classes, width: 4)\n\
         train at = adversarial(net, d, attack: pgd(steps: 2), method: fgsm_rs, epochs: 2, batch: 16) {\n  budget fixed 8\n}\n\
         eval e = robustness([at], d.test, batch: 16) {\n  attack pgd(steps: 3)\n  budget sweep [0, 8]\n}\n\
         report e to \"e.json\"\n",
    )
    .unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_advp"))
        .args([
            "run",
            "p.advp",
            "--quiet",
            "--out",
            "out",
            "--set",
            &format!("device={dev}"),
        ])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("out/e.json")).unwrap()).unwrap();
    let machine = v["machine"]["device"].as_str().unwrap_or("");
    assert_eq!(machine.starts_with("Cuda"), dev == "cuda", "{machine}");
    assert_eq!(v["rows"].as_array().unwrap().len(), 2);
}

/// Under `precision bf16` the forward pass runs in bf16 on the device, its
/// logits come back fp32 close to the fp32 pass, and PGD's δ stays fp32 and
/// in its ball.
#[test]
fn a_bf16_forward_is_close_to_fp32_and_pgd_keeps_delta_in_fp32() {
    let dev = device();
    let mut here = net(dev);
    tch::manual_seed(2);
    let x = Tensor::rand([4, 3, 4, 16, 16], (Kind::Float, dev));
    let y = Tensor::from_slice(&[0i64, 1, 2, 3]).to_device(dev);
    let full = here.forward(&x, false);
    here.precision = advp::language::program::Precision::Bf16;
    let low = here.forward(&x, false);
    assert_eq!(low.kind(), Kind::Float);
    let diff = (&full - &low).abs().max().double_value(&[]);
    let scale = full.abs().max().double_value(&[]);
    assert!(
        diff > 0.0,
        "bf16 gave fp32's logits exactly: autocast did not run"
    );
    assert!(
        diff < 0.05 * scale.max(1.0),
        "bf16 logits differ by {diff} (scale {scale})"
    );
    let pgd = Pgd {
        norm: Norm::Inf,
        eps: 8.0,
        alpha: 2.0,
        steps: 3,
        random_start: false,
    };
    let f = |v: &Tensor| here.forward(v, false);
    let adv = pgd.run(&f, &x, &y).unwrap();
    assert_eq!(adv.kind(), Kind::Float);
    let d = (&adv - &x).abs().max().double_value(&[]);
    assert!(d <= 8.0 / 255.0 + 1e-6, "‖δ‖∞ = {d}");
}
