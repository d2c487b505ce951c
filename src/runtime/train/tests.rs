use super::*;
use crate::runtime::data::{Clips, Memory};
use crate::runtime::models::{Arch, ModelSpec};

fn data(x: Tensor) -> Dataset {
    let y = Tensor::arange(32, (Kind::Int64, Device::Cpu)).remainder(4);
    let clips = || {
        Clips::Memory(Memory {
            x: x.shallow_clone(),
            y: y.shallow_clone(),
        })
    };
    Dataset {
        classes: 4,
        shape: [3, 4, 8, 8],
        train: clips(),
        val: clips(),
        test: clips(),
        no_test: None,
    }
}

fn spec(epochs: usize) -> TrainSpec {
    TrainSpec {
        node: "t".into(),
        seed: 1,
        epochs,
        batch: 8,
        rule: Rule::Sgd {
            momentum: 0.9,
            weight_decay: 0.0,
            nesterov: false,
        },
        lr: 0.01,
        milestones: vec![],
        lr_decay: 0.1,
        attack: None,
        schedule: Schedule::Fixed(Attack::Fgsm(0.0)),
    }
}

#[test]
fn a_nan_loss_stops_the_node_and_keeps_the_last_good_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    tch::manual_seed(0);
    let mut net = Net::build(
        &ModelSpec {
            arch: Arch::C3dSmall { width: 2 },
            classes: 4,
            pretrained: None,
        },
        Device::Cpu,
    )
    .unwrap();
    let good = data(Tensor::rand([32, 3, 4, 8, 8], (Kind::Float, Device::Cpu)));
    let progress = Progress::new(true);
    let rule = spec(2).rule;
    let metrics = train(
        &spec(2),
        &mut Classifier::new(&mut net, Vec::new(), rule.clone(), 0.01),
        &good,
        dir.path(),
        &progress,
        Device::Cpu,
    )
    .unwrap();
    assert_eq!(metrics.len(), 2);

    // Two more epochs on data that poisons the loss: resumes at epoch 3, stops there.
    let bad = data(Tensor::full(
        [32, 3, 4, 8, 8],
        f64::NAN,
        (Kind::Float, Device::Cpu),
    ));
    match train(
        &spec(4),
        &mut Classifier::new(&mut net, Vec::new(), rule, 0.01),
        &bad,
        dir.path(),
        &progress,
        Device::Cpu,
    ) {
        Err(TrainError::Failed(m)) => {
            assert!(m.contains("at epoch 3, batch 1"), "{m}");
            assert!(m.contains("checkpoint (epoch 2)"), "{m}");
        }
        other => panic!("expected a NaN error, got {other:?}"),
    }
    let state: State =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("state.json")).unwrap())
            .unwrap();
    assert_eq!((state.epoch, state.batch), (2, 0));
    assert!(dir.path().join(&state.tensors).exists());
    let lines = std::fs::read_to_string(dir.path().join("metrics.jsonl")).unwrap();
    assert_eq!(lines.lines().count(), 2);
}

#[test]
fn learning_rate_follows_the_milestones() {
    let s = TrainSpec {
        milestones: vec![2, 4],
        lr: 1.0,
        lr_decay: 0.1,
        ..spec(6)
    };
    let lrs: Vec<f64> = (0..6).map(|e| lr_at(&s, e)).collect();
    assert_eq!(lrs[..2], [1.0, 1.0]);
    assert!((lrs[2] - 0.1).abs() < 1e-12 && (lrs[5] - 0.01).abs() < 1e-12);
}
