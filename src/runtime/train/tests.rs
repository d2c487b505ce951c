use super::checkpoint::{load_state, save_state};
use super::*;
use crate::runtime::data::{Clips, Memory};
use crate::runtime::models::{Arch, ModelSpec};

/// A 2-wide C3D-small of 4 classes, from seed 0.
fn tiny_net() -> Net {
    tch::manual_seed(0);
    Net::build(
        &ModelSpec {
            arch: Arch::C3dSmall { width: 2 },
            classes: 4,
            pretrained: None,
        },
        Device::Cpu,
    )
    .unwrap()
}

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
        unreadable: Vec::new(),
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
        schedule: TrainSchedule::Clean,
        guard: false,
    }
}

#[test]
fn a_nan_loss_stops_the_node_and_keeps_the_last_good_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let mut net = tiny_net();
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
        Err(TrainError::Node(NodeError::Numeric(m))) => {
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

/// A learner that is one number: what the guard keeps and brings back.
struct One(Tensor);

impl Learner for One {
    fn set_lr(&mut self, _: f64) {}
    fn step(&mut self, _: &Tensor, _: &Tensor, _: Option<(&Attack, bool)>) -> StepOutcome {
        Ok((0.0, 0.0))
    }
    fn checkpoint(&self) -> Named {
        vec![("model.w".into(), self.0.shallow_clone())]
    }
    fn restore(&mut self, named: &Named) -> NodeResult<()> {
        self.0 = named[0].1.copy();
        Ok(())
    }
    fn classify(&self, _: &Tensor, _: bool) -> Option<Tensor> {
        None
    }
}

#[test]
fn the_guard_restores_the_best_epoch_when_pgd_accuracy_collapses() {
    let dir = tempfile::tempdir().unwrap();
    let progress = Progress::new(true);
    let s = TrainSpec {
        guard: true,
        ..spec(5)
    };
    let mut state: State = serde_json::from_str(
        r#"{"epoch":0,"batch":0,"tensors":"","probs":null,"loss_sum":0,"correct":0,"seen":0,"seconds":0,"metrics":[]}"#,
    )
    .unwrap();
    let mut l = One(Tensor::from_slice(&[1.0f32]));
    let at = |l: &mut One, epoch: usize, w: f32, acc: f64, state: &mut State| {
        l.0 = Tensor::from_slice(&[w]);
        guard(&s, state, l, dir.path(), epoch, Some(acc), &progress).unwrap()
    };
    // Epoch 1 at 40 %, epoch 2 at 60 % (the best), epoch 3 at 45 %: a drop
    // of 15 points goes on; epoch 4 at 35 % (25 below the best) stops.
    assert_eq!(at(&mut l, 0, 1.0, 0.40, &mut state), None);
    assert_eq!(at(&mut l, 1, 2.0, 0.60, &mut state), None);
    assert_eq!(state.guard_best, Some((2, 0.60)));
    assert_eq!(at(&mut l, 2, 3.0, 0.45, &mut state), None);
    let why = at(&mut l, 3, 4.0, 0.35, &mut state).expect("the guard stops");
    assert!(
        why.contains("from 60.0 % (epoch 2) to 35.0 % at epoch 4"),
        "{why}"
    );
    // The weights are epoch 2's again.
    assert_eq!(l.0.double_value(&[0]), 2.0);
}

#[test]
fn free_training_replays_each_batch_and_carries_a_signed_delta() {
    let mut net = tiny_net();
    let rule = spec(1).rule;
    let mut l = Classifier::new(&mut net, Vec::new(), rule, 0.01)
        .with(Method::Free { replays: 3 }, TrainLoss::Ce);
    let x = Tensor::rand([8, 3, 4, 8, 8], (Kind::Float, Device::Cpu)) * 0.5 + 0.25;
    let y = Tensor::arange(8, (Kind::Int64, Device::Cpu)).remainder(4);
    let attack = Attack::Pgd(crate::runtime::attacks::Pgd {
        norm: crate::runtime::attacks::Norm::Inf,
        eps: 8.0,
        alpha: 2.0,
        steps: 5,
        random_start: false,
    });
    l.step(&x, &y, Some((&attack, false))).unwrap();
    assert_eq!(l.opt.steps, 3, "one weight update per replay");
    // Every coordinate of δ took three steps of ±ε from 0, clamped to the
    // ball: it is 0 or ±ε, never anything else.
    let eps = 8.0 / 255.0;
    let d = l.delta.as_ref().unwrap().abs();
    let on_grid = (d
        .isclose(&Tensor::from(eps as f32), 1e-5, 1e-7, false)
        .logical_or(&d.eq(0.0)))
    .all()
    .int64_value(&[]);
    assert_eq!(on_grid, 1);
    assert!(d.max().double_value(&[]) > 0.0);
    // δ is in the checkpoint and comes back with it.
    let named = l.checkpoint();
    assert!(named.iter().any(|(k, _)| k == "free.delta"));
    let before = l.delta.as_ref().unwrap().copy();
    l.step(&x, &y, Some((&attack, false))).unwrap();
    assert_eq!(l.opt.steps, 6);
    assert!(
        !l.delta.as_ref().unwrap().equal(&before),
        "the second batch moved δ"
    );
    l.restore(&named).unwrap();
    assert!(
        l.delta.as_ref().unwrap().equal(&before),
        "a resume carries the saved δ on"
    );
}

#[test]
fn a_checkpoint_that_cannot_be_written_leaves_no_temporary_and_names_its_file() {
    let dir = tempfile::tempdir().unwrap();
    let mut net = tiny_net();
    let learner = Classifier::new(&mut net, Vec::new(), spec(1).rule, 0.01);
    let left = || -> Vec<String> {
        std::fs::read_dir(dir.path())
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.contains(".tmp"))
            .collect()
    };
    let mut state: State = serde_json::from_value(serde_json::json!({
        "epoch": 1, "batch": 0, "tensors": "", "probs": null, "loss_sum": 0.0,
        "correct": 0.0, "seen": 0.0, "seconds": 0.0, "metrics": []
    }))
    .unwrap();
    // The tensors cannot be renamed into place (a full folder is there).
    let tensors = dir.path().join("checkpoint-e1-b0.safetensors");
    std::fs::create_dir(&tensors).unwrap();
    std::fs::write(tensors.join("x"), "x").unwrap();
    let e = failed(save_state(dir.path(), &mut state.clone(), &learner));
    assert!(e.contains(&tensors.display().to_string()), "{e}");
    assert_eq!(left(), Vec::<String>::new());
    // `state.json` cannot be written: the new tensors, never committed, go too.
    std::fs::remove_dir_all(&tensors).unwrap();
    let json = dir.path().join("state.json");
    std::fs::create_dir(&json).unwrap();
    std::fs::write(json.join("x"), "x").unwrap();
    let e = failed(save_state(dir.path(), &mut state, &learner));
    assert!(e.contains(&json.display().to_string()), "{e}");
    assert_eq!(left(), Vec::<String>::new());
    assert!(!tensors.exists(), "uncommitted tensors are removed");
}

/// A failed save's words (a write that failed is [`NodeError::Failed`]).
fn failed(saved: NodeResult<PathBuf>) -> String {
    match saved {
        Err(NodeError::Failed(m)) => m,
        other => panic!("expected a failed save, got {other:?}"),
    }
}

#[test]
fn a_forged_state_naming_files_outside_its_folder_is_damage_not_a_read() {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("entry.partial");
    std::fs::create_dir(&work).unwrap();
    let fifo = dir.path().join("pipe");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status();
    if !made.is_ok_and(|s| s.success()) {
        crate::util::skipped(
            "a_forged_state_naming_files_outside_its_folder_is_damage_not_a_read",
            "no mkfifo",
        );
        return;
    }
    for (tensors, sha) in [
        ("../pipe", serde_json::json!({})),
        ("c.safetensors", serde_json::json!({ "../pipe": "00" })),
    ] {
        let state = serde_json::json!({
            "epoch": 1, "batch": 0, "tensors": tensors, "probs": null, "loss_sum": 0.0,
            "correct": 0.0, "seen": 0.0, "seconds": 0.0, "metrics": [], "sha256": sha
        });
        std::fs::write(work.join("state.json"), state.to_string()).unwrap();
        // In a thread: a read that blocks on the FIFO fails the test, not the suite.
        let (tx, rx) = std::sync::mpsc::channel();
        let w = work.clone();
        std::thread::spawn(move || {
            let _ = tx.send(load_state(&w).map(|s| s.is_some()));
        });
        let got = rx
            .recv_timeout(std::time::Duration::from_secs(20))
            .expect("load_state returns instead of reading the FIFO");
        let e = match got.unwrap_err() {
            NodeError::Damaged { path, message } => {
                assert_eq!(
                    path,
                    work.join("state.json"),
                    "the damaged file is `state.json`"
                );
                message
            }
            other => panic!("expected a damaged checkpoint, got {other:?}"),
        };
        assert!(e.contains("damaged") && e.contains("../pipe"), "{e}");
    }
}

#[test]
fn eq8_normalises_losses() {
    let p = adaptive_probabilities(&[1.0, 3.0, 4.0]);
    assert_eq!(p, vec![0.125, 0.375, 0.5]);
    assert_eq!(adaptive_probabilities(&[0.0, 0.0]), vec![0.5, 0.5]);
}

#[test]
fn ranks_refuse_a_batch_without_a_clip_each_and_clip_dependent_attacks_with_synced_batchnorm() {
    use crate::language::schedule::Schedule;
    use crate::runtime::attacks::{Attack, Square};
    // 40 clips in batches of 8: every batch splits over 2 ranks (and 8).
    assert!(ranks_can_train(&spec(1), 40, 2).is_ok());
    assert!(ranks_can_train(&spec(1), 40, 8).is_ok());
    // 41 clips: the last batch holds 1; 9 ranks: a batch of 8 is too small.
    let e = ranks_can_train(&spec(1), 41, 2).unwrap_err().to_string();
    assert!(e.contains("leave a batch of 1 clip(s)"), "{e}");
    let e = ranks_can_train(&spec(1), 40, 9).unwrap_err().to_string();
    assert!(
        e.contains("a batch of 8 clip(s)") && e.contains("9 ranks"),
        "{e}"
    );
    // Square stops per clip: refused with BatchNorm synced during the
    // attack (`bn: train`), accepted in eval mode.
    let square = Attack::Square(Square {
        eps: 4.0,
        queries: 10,
        p_init: 0.05,
        rescale: true,
    });
    let attacked = |bn_train| TrainSpec {
        schedule: TrainSchedule::Attacked {
            plan: AttackPlan {
                base: square.clone(),
                alpha: None,
                bn_train,
                fits: Default::default(),
            },
            epochs: Schedule::Fixed(square.clone()),
        },
        ..spec(1)
    };
    let e = ranks_can_train(&attacked(true), 40, 2)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("bn: train") && e.contains("every rank must make the same passes"),
        "{e}"
    );
    assert!(ranks_can_train(&attacked(false), 40, 2).is_ok());
}
