//! The 3D ResNets of `advp::runtime::models::resnet`: parameter counts against closed
//! forms, PyTorch variable names, output shapes, BatchNorm train/eval modes,
//! initialisation and errors.

use std::collections::BTreeSet;
use std::time::Instant;

use advp::runtime::models::resnet::*;
use tch::nn::{self, ModuleT};
use tch::{Device, Kind, Tensor};

/// Parameter counts in closed form, written from the architecture tables and
/// not from the implementation: conv kernels, BatchNorm weight and bias
/// (2·C), and the classifier.
mod closed_form {
    /// A bias-free convolution with a cubic kernel of side `k`.
    pub fn conv(c_in: i64, c_out: i64, k: i64, groups: i64) -> i64 {
        c_in / groups * c_out * k * k * k
    }

    /// BatchNorm: weight and bias (the running statistics are buffers).
    pub fn bn(c: i64) -> i64 {
        2 * c
    }

    #[derive(Clone, Copy)]
    pub enum Block {
        Basic,
        Bottleneck,
        ResNeXt(i64),
    }

    /// A whole network; `stem_t` is the temporal size of the 7×7 stem (7 in
    /// Hara et al., 3 in torchvision's `r3d_18`).
    pub fn network(block: Block, blocks: [i64; 4], classes: i64, stem_t: i64) -> i64 {
        let (planes, expansion) = match block {
            Block::Basic => ([64, 128, 256, 512], 1),
            Block::Bottleneck => ([64, 128, 256, 512], 4),
            Block::ResNeXt(_) => ([128, 256, 512, 1024], 2),
        };
        let mut total = 3 * 64 * stem_t * 7 * 7 + bn(64);
        let mut c_in = 64;
        for stage in 0..4 {
            let p = planes[stage];
            let c_out = p * expansion;
            for b in 0..blocks[stage] {
                let stride = if stage > 0 && b == 0 { 2 } else { 1 };
                total += match block {
                    Block::Basic => conv(c_in, p, 3, 1) + bn(p) + conv(p, p, 3, 1) + bn(p),
                    Block::Bottleneck => {
                        conv(c_in, p, 1, 1)
                            + bn(p)
                            + conv(p, p, 3, 1)
                            + bn(p)
                            + conv(p, c_out, 1, 1)
                            + bn(c_out)
                    }
                    Block::ResNeXt(card) => {
                        let mid = card * p / 32;
                        conv(c_in, mid, 1, 1)
                            + bn(mid)
                            + conv(mid, mid, 3, card)
                            + bn(mid)
                            + conv(mid, c_out, 1, 1)
                            + bn(c_out)
                    }
                };
                if stride != 1 || c_in != c_out {
                    total += conv(c_in, c_out, 1, 1) + bn(c_out);
                }
                c_in = c_out;
            }
        }
        total + c_in * classes + classes
    }
}

use closed_form::Block;

fn trainable_params(vs: &nn::VarStore) -> i64 {
    vs.trainable_variables()
        .iter()
        .map(|t| t.numel() as i64)
        .sum()
}

fn clip(shape: &[i64]) -> Tensor {
    Tensor::randn(shape, (Kind::Float, Device::Cpu))
}

#[test]
fn closed_forms_agree_with_hand_computed_figures() {
    // R3D-18 in Hara's layout (7×7×7 stem) with 400 classes. The often-quoted
    // 33,371,472 is torchvision's r3d_18, whose stem is 3×7×7: the difference
    // is exactly 3·64·(7−3)·7·7 = 37,632.
    let hara18 = closed_form::network(Block::Basic, [2, 2, 2, 2], 400, 7);
    assert_eq!(hara18, 33_409_104);
    assert_eq!(
        closed_form::network(Block::Basic, [2, 2, 2, 2], 400, 3),
        33_371_472
    );
    assert_eq!(hara18 - 33_371_472, 3 * 64 * 4 * 49);
    // Without the classifier, the paper's table rounds these to 33.2M / 63.5M.
    assert_eq!(hara18 - (512 * 400 + 400), 33_203_904);
    assert_eq!(
        closed_form::network(Block::Basic, [3, 4, 6, 3], 400, 7),
        63_718_736
    );
    assert_eq!(
        closed_form::network(Block::Bottleneck, [3, 4, 6, 3], 400, 7),
        47_018_576
    );
    assert_eq!(
        closed_form::network(Block::ResNeXt(32), [3, 4, 23, 3], 400, 7),
        48_340_816
    );
}

#[test]
fn parameter_counts_match_the_closed_form() {
    for (depth, block, blocks) in [
        (18, Block::Basic, [2, 2, 2, 2]),
        (34, Block::Basic, [3, 4, 6, 3]),
        (50, Block::Bottleneck, [3, 4, 6, 3]),
    ] {
        let vs = nn::VarStore::new(Device::Cpu);
        r3d(&vs.root(), depth, 400).unwrap();
        let expected = closed_form::network(block, blocks, 400, 7);
        assert_eq!(trainable_params(&vs), expected, "R3D-{depth}");
    }
    // Another class count and a non-default cardinality.
    let vs = nn::VarStore::new(Device::Cpu);
    r3d(&vs.root(), 18, 101).unwrap();
    assert_eq!(
        trainable_params(&vs),
        closed_form::network(Block::Basic, [2, 2, 2, 2], 101, 7)
    );
    for card in [32, 16] {
        let vs = nn::VarStore::new(Device::Cpu);
        resnext101(&vs.root(), 400, card).unwrap();
        let expected = closed_form::network(Block::ResNeXt(card), [3, 4, 23, 3], 400, 7);
        assert_eq!(
            trainable_params(&vs),
            expected,
            "ResNeXt-101, cardinality {card}"
        );
    }
}

#[test]
fn variables_carry_pytorch_names() {
    let vs = nn::VarStore::new(Device::Cpu);
    r3d(&vs.root(), 18, 400).unwrap();
    let vars = vs.variables();
    let names: BTreeSet<&str> = vars.keys().map(String::as_str).collect();

    // The full state dict of Hara's R3D-18 (less `num_batches_tracked`).
    let mut expected = BTreeSet::new();
    let bn = |set: &mut BTreeSet<String>, p: &str| {
        for v in ["weight", "bias", "running_mean", "running_var"] {
            set.insert(format!("{p}.{v}"));
        }
    };
    expected.insert("conv1.weight".to_string());
    bn(&mut expected, "bn1");
    for layer in 1..=4 {
        for block in 0..2 {
            let p = format!("layer{layer}.{block}");
            for i in 1..=2 {
                expected.insert(format!("{p}.conv{i}.weight"));
                bn(&mut expected, &format!("{p}.bn{i}"));
            }
            if layer > 1 && block == 0 {
                expected.insert(format!("{p}.downsample.0.weight"));
                bn(&mut expected, &format!("{p}.downsample.1"));
            }
        }
    }
    expected.insert("fc.weight".to_string());
    expected.insert("fc.bias".to_string());
    let expected: BTreeSet<&str> = expected.iter().map(String::as_str).collect();
    assert_eq!(names, expected);

    for name in [
        "conv1.weight",
        "bn1.running_mean",
        "layer1.0.conv1.weight",
        "layer2.0.downsample.0.weight",
        "fc.weight",
        "fc.bias",
    ] {
        assert!(names.contains(name), "{name} missing");
    }
    assert_eq!(vars["conv1.weight"].size(), [64, 3, 7, 7, 7]);
    assert_eq!(vars["layer2.0.conv1.weight"].size(), [128, 64, 3, 3, 3]);
    assert_eq!(
        vars["layer2.0.downsample.0.weight"].size(),
        [128, 64, 1, 1, 1]
    );
    assert_eq!(vars["fc.weight"].size(), [400, 512]);

    // Bottlenecks: a projection already in layer1.0 (64 → 256), three convs.
    let vs = nn::VarStore::new(Device::Cpu);
    r3d(&vs.root(), 50, 400).unwrap();
    let vars = vs.variables();
    assert_eq!(
        vars["layer1.0.downsample.0.weight"].size(),
        [256, 64, 1, 1, 1]
    );
    assert_eq!(vars["layer4.2.conv3.weight"].size(), [2048, 512, 1, 1, 1]);
    assert_eq!(vars["layer4.2.bn3.running_var"].size(), [2048]);
    assert_eq!(vars["fc.weight"].size(), [400, 2048]);
    assert!(!vars.contains_key("layer1.1.downsample.0.weight"));

    // ResNeXt: grouped 3×3×3 convs (32 groups of 4 channels in layer1).
    let vs = nn::VarStore::new(Device::Cpu);
    resnext101(&vs.root(), 400, 32).unwrap();
    let vars = vs.variables();
    assert_eq!(vars["layer1.0.conv1.weight"].size(), [128, 64, 1, 1, 1]);
    assert_eq!(vars["layer1.0.conv2.weight"].size(), [128, 4, 3, 3, 3]);
    assert_eq!(vars["layer1.0.conv3.weight"].size(), [256, 128, 1, 1, 1]);
    assert_eq!(vars["layer3.22.conv2.weight"].size(), [512, 16, 3, 3, 3]);
    assert_eq!(
        vars["layer4.0.downsample.0.weight"].size(),
        [2048, 1024, 1, 1, 1]
    );
    assert_eq!(vars["fc.weight"].size(), [400, 2048]);
}

/// Eval-mode logits for `input`, checked to be `batch × classes` and finite.
fn check_logits(net: &ResNet3d, input: &[i64], classes: i64) {
    let ys = tch::no_grad(|| net.forward_t(&clip(input), false));
    assert_eq!(ys.size(), [input[0], classes], "input {input:?}");
    assert!(
        bool::try_from(ys.isfinite().all()).unwrap(),
        "non-finite logits"
    );
}

#[test]
fn outputs_are_batch_by_classes() {
    let vs = nn::VarStore::new(Device::Cpu);
    let net = r3d(&vs.root(), 18, 7).unwrap();
    check_logits(&net, &[1, 3, 8, 32, 32], 7);
    // Batch of two, a clip that is neither square nor a multiple of 32.
    check_logits(&net, &[2, 3, 5, 40, 48], 7);

    let vs = nn::VarStore::new(Device::Cpu);
    let net = r3d(&vs.root(), 34, 11).unwrap();
    check_logits(&net, &[1, 3, 8, 32, 32], 11);

    let vs = nn::VarStore::new(Device::Cpu);
    let net = r3d(&vs.root(), 50, 400).unwrap();
    check_logits(&net, &[1, 3, 8, 32, 32], 400);

    let vs = nn::VarStore::new(Device::Cpu);
    let net = resnext101(&vs.root(), 400, 32).unwrap();
    check_logits(&net, &[1, 3, 4, 16, 16], 400);
}

#[test]
fn full_size_clips_through_r3d_18() {
    let vs = nn::VarStore::new(Device::Cpu);
    let net = r3d(&vs.root(), 18, 400).unwrap();
    let start = Instant::now();
    check_logits(&net, &[2, 3, 16, 112, 112], 400);
    eprintln!("R3D-18, 2×3×16×112×112: {:?}", start.elapsed());
}

#[test]
fn batch_norm_statistics_move_only_in_training() {
    let vs = nn::VarStore::new(Device::Cpu);
    let net = r3d(&vs.root(), 18, 5).unwrap();
    let vars = vs.variables();
    let watched = ["bn1.running_mean", "layer4.1.bn2.running_var"];
    let snapshot = || -> Vec<Tensor> { watched.iter().map(|n| vars[*n].copy()).collect() };
    let xs = clip(&[2, 3, 8, 32, 32]);

    let before = snapshot();
    let eval1 = tch::no_grad(|| net.forward_t(&xs, false));
    let eval2 = tch::no_grad(|| net.forward_t(&xs, false));
    for (name, (old, new)) in watched.iter().zip(before.iter().zip(snapshot())) {
        assert!(old.equal(&new), "{name} changed in eval mode");
    }
    assert!(eval1.equal(&eval2), "eval mode is not deterministic");

    let train = tch::no_grad(|| net.forward_t(&xs, true));
    for (name, (old, new)) in watched.iter().zip(before.iter().zip(snapshot())) {
        assert!(!old.equal(&new), "{name} did not change in train mode");
    }
    // Batch statistics, not the (fresh) running ones, normalise in training.
    assert!(!train.allclose(&eval1, 1e-4, 1e-4, false));
    // Momentum 0.1: bn1's running statistics moved a tenth of the way from
    // (0, 1) to the batch's (mean, unbiased variance) of the stem conv output.
    let stem = tch::no_grad(|| {
        xs.conv3d(
            &vars["conv1.weight"],
            None::<&Tensor>,
            [1, 2, 2],
            [3, 3, 3],
            [1, 1, 1],
            1,
        )
    });
    let mean = stem.mean_dim(&[0i64, 2, 3, 4][..], false, Kind::Float) * 0.1;
    let var = stem.var_dim(&[0i64, 2, 3, 4][..], true, false) * 0.1 + 0.9;
    assert!(vars["bn1.running_mean"].allclose(&mean, 1e-4, 1e-6, false));
    assert!(vars["bn1.running_var"].allclose(&var, 1e-4, 1e-6, false));
}

#[test]
fn initialisation_follows_the_original() {
    let vs = nn::VarStore::new(Device::Cpu);
    r3d(&vs.root(), 18, 400).unwrap();
    let vars = vs.variables();
    // Kaiming normal, fan out, ReLU gain: std = sqrt(2 / (64 · 7³)).
    let w = &vars["conv1.weight"];
    let expected = (2.0 / (64.0 * 343.0f64)).sqrt();
    let std = w.std(true).double_value(&[]);
    assert!(
        (std / expected - 1.0).abs() < 0.05,
        "conv1 std {std}, expected {expected}"
    );
    let w = &vars["layer3.1.conv2.weight"];
    let expected = (2.0 / (256.0 * 27.0f64)).sqrt();
    let std = w.std(true).double_value(&[]);
    assert!(
        (std / expected - 1.0).abs() < 0.05,
        "layer3.1.conv2 std {std}, expected {expected}"
    );
    // BatchNorm: weight 1, bias 0, running mean 0, running variance 1.
    for (name, value) in [
        ("layer2.1.bn1.weight", 1.0),
        ("layer2.1.bn1.bias", 0.0),
        ("layer2.1.bn1.running_mean", 0.0),
        ("layer2.1.bn1.running_var", 1.0),
    ] {
        let t = &vars[name];
        assert!(
            bool::try_from(t.eq(value).all()).unwrap(),
            "{name} is not all {value}"
        );
    }
}

#[test]
fn bad_arguments_are_errors() {
    let vs = nn::VarStore::new(Device::Cpu);
    for depth in [0, 19, 51, -18] {
        let err = match r3d(&vs.root(), depth, 400) {
            Err(advp::runtime::error::NodeError::Model(e)) => e,
            other => panic!("expected a model error, got {:?}", other.err()),
        };
        assert!(err.contains(&depth.to_string()), "{err}");
        assert!(err.contains("18"), "the message lists the depths: {err}");
    }
    assert!(r3d(&vs.root(), 18, 0).is_err());
    assert!(resnext101(&vs.root(), 400, 0).is_err());
    assert!(resnext101(&vs.root(), -1, 32).is_err());
    // Nothing was created on the way to an error.
    assert!(vs.variables().is_empty());
}
