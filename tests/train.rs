//! Fine-tuning on a tiny random BERT: the loss falls, runs are bit-identical for a seed, a resumed
//! run ends with the same weights as an uninterrupted one, a NaN loss stops with a clear error.
#![cfg(not(target_arch = "wasm32"))]

mod common;
use common::StopAt;

use std::path::Path;

use burn::tensor::Device;
use undivided::Checkpoint;
use undivided::data::Prepared;
use undivided::data::{Dataset, Example, Label, Task};
use undivided::model::FfnPlan;
use undivided::train::finetune_run::{FinetuneOptions, Observer, Quiet, RunState, TrainError, finetune};
use undivided::train::heal_step::{HealConfig, heal_losses};
use undivided::train::step::Share;
use undivided::train::{DistillConfig, Trainer};

/// burn's CPU random generator (dropout, new heads) is global to the process, and the test
/// harness runs tests on several threads: every test here takes its turn.
static RNG_LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn turn() -> std::sync::MutexGuard<'static, ()> {
    RNG_LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

fn toy_dataset() -> Dataset {
    let mut examples = Vec::new();
    for adj in ["good", "bad"] {
        for subject in ["the movie", "a film", "the film", "a movie"] {
            for verb in ["is", "was", "is very", "was very"] {
                examples.push(Example { text_a: format!("{subject} {verb} {adj}"), text_b: None, label: Label::Class(if adj == "good" { 1 } else { 0 }) });
            }
        }
    }
    Dataset { task: Task::Sst2, examples, skipped: vec![] }
}

fn options(steps: usize, lr: f64) -> FinetuneOptions {
    common::finetune_options(steps, lr)
}

fn setup() -> (common::TempDir, Checkpoint, Prepared, Vec<(String, Prepared)>) {
    let dir = common::tiny_checkpoint_dir();
    let checkpoint = Checkpoint::open(dir.path()).unwrap();
    let data = toy_dataset();
    let prepared = Prepared::new(&checkpoint.tokenizer, &data).unwrap();
    let dev = vec![("dev".to_string(), prepared.clone())];
    (dir, checkpoint, prepared, dev)
}

#[test]
fn a_short_run_lowers_the_loss() {
    let _turn = turn();
    let (_dir, checkpoint, data, _) = setup();
    let device = Device::flex().autodiff();
    let plan = FfnPlan::parse("1", 3).unwrap();
    let mut config = checkpoint.config.clone();
    config.set_labels(&["negative".into(), "positive".into()]);
    let (model, report) = undivided::checkpoint::load_classifier(&checkpoint.weights, Path::new("tiny"), &config, &plan, &device).unwrap();
    assert!(report.new_head);
    let mut trainer = Trainer::new(model, Task::Sst2, options(40, 2e-3).train, 40, &device);
    let all: Vec<usize> = (0..data.len()).collect();
    let batch = data.batch(&all, 0);
    let mut losses = Vec::new();
    for _ in 0..40 {
        let out = trainer.step(&batch, &data.labels);
        losses.push(out.loss.into_scalar::<f32>());
    }
    let first: f32 = losses[..3].iter().sum::<f32>() / 3.0;
    let last: f32 = losses[37..].iter().sum::<f32>() / 3.0;
    assert!(last < first * 0.5, "loss {first} -> {last}: {losses:?}");
}

/// On the CPU a step trains its batch in slices on parallel threads. With dropout off, the
/// slices' losses and gradients must sum to the whole batch's, including the per-token means of
/// layer-to-layer distillation when the slices hold different numbers of real tokens.
#[test]
fn a_batch_in_slices_gives_the_whole_batch_loss_and_gradients() {
    let _turn = turn();
    let (_dir, checkpoint, data, _) = setup();
    let device = Device::flex().autodiff();
    let mut config = checkpoint.config.clone();
    config.set_labels(&["negative".into(), "positive".into()]);
    config.set_dropout(0.0);
    let load =
        |plan: &FfnPlan, device: &Device| undivided::checkpoint::load_classifier(&checkpoint.weights, Path::new("tiny"), &config, plan, device).unwrap().0;
    let teacher = load(&FfnPlan::all(3), &Device::flex());
    let mut train = options(1, 1e-3).train;
    train.distill = Some(DistillConfig { temperature: 2.0, alpha: 0.5, hidden_weight: 1.0, attention_weight: 1.0 });
    let trainer = Trainer::new(load(&FfnPlan::parse("1", 3).unwrap(), &device), Task::Sst2, train, 1, &device).with_teacher(teacher);
    // Short sentences first, long ones last: the halves differ in real tokens.
    let mut rows: Vec<usize> = (0..data.len()).collect();
    rows.sort_by_key(|&i| data.rows[i].input_ids.len());
    let rows: Vec<usize> = rows.into_iter().step_by(3).collect();
    let batch = data.batch(&rows, checkpoint.tokenizer.pad_id());
    let labels: Vec<_> = rows.iter().map(|&i| data.labels[i]).collect();
    let (first, last) = (batch.rows(0..batch.batch_size / 2).real_tokens(), batch.rows(batch.batch_size / 2..batch.batch_size).real_tokens());
    assert_ne!(first * 2, first + last, "the halves should differ in real tokens");

    let (whole_loss, whole) = trainer.gradients(&batch, &labels, 1, 0);
    let whole_loss = whole_loss.into_scalar::<f32>();
    for parts in [2, 3] {
        let (loss, grads) = trainer.gradients(&batch, &labels, parts, 0);
        let loss = loss.into_scalar::<f32>();
        assert!((loss - whole_loss).abs() < 1e-5 * whole_loss.abs().max(1.0), "{parts} slices: loss {loss}, whole batch {whole_loss}");
        for &(id, rank, _) in &trainer.opt.params.0 {
            let read = |g: &burn::optim::GradientsParams| match rank {
                1 => g.get::<1>(id).map(|t| t.into_data().try_to_vec::<f32>().unwrap()),
                _ => g.get::<2>(id).map(|t| t.into_data().try_to_vec::<f32>().unwrap()),
            };
            let (Some(a), Some(b)) = (read(&whole), read(&grads)) else {
                assert_eq!(read(&whole).is_some(), read(&grads).is_some(), "{parts} slices: parameter {id} has a gradient in one case only");
                continue;
            };
            let scale = a.iter().fold(1e-3f32, |m, x| m.max(x.abs()));
            let diff = common::max_abs_diff(&a, &b);
            assert!(diff < 1e-4 * scale, "{parts} slices: parameter {id}: gradients differ by {diff} (largest {scale})");
        }
    }
}

fn run(dir: &Path, steps: usize, resume: bool, observer: &mut dyn Observer) -> Result<Vec<u8>, TrainError> {
    let (_ckpt_dir, checkpoint, data, dev) = setup();
    let plan = FfnPlan::all(3);
    finetune(&checkpoint, &plan, Task::Sst2, &data, &dev, dir, &options(steps, 1e-3), resume, &Device::flex(), observer)?;
    Ok(std::fs::read(dir.join("last/model.safetensors")).unwrap())
}

#[test]
fn same_seed_same_weights() {
    let _turn = turn();
    let (a, b) = (common::tempdir(), common::tempdir());
    let wa = run(a.path(), 6, false, &mut Quiet).unwrap();
    let wb = run(b.path(), 6, false, &mut Quiet).unwrap();
    assert!(wa == wb, "two runs with the same seed differ");
    let results: serde_json::Value = serde_json::from_slice(&std::fs::read(a.path().join("results.json")).unwrap()).unwrap();
    assert_eq!(results["steps"], 6);
    assert_eq!(results["task"], "sst2");
    assert!(results["dev"][0][1]["metrics"]["accuracy"].is_number());
    // The output folder is itself a loadable checkpoint with label names.
    let best = Checkpoint::open(a.path()).unwrap();
    assert_eq!(best.config.label_names(), vec!["negative", "positive"]);
}

#[test]
fn a_dropout_override_reaches_the_model_and_its_config() {
    let _turn = turn();
    let (_ckpt_dir, checkpoint, data, dev) = setup();
    let plan = FfnPlan::all(3);
    let train = |dropout: Option<f64>| {
        let dir = common::tempdir();
        let mut options = options(4, 1e-3);
        options.dropout = dropout;
        finetune(&checkpoint, &plan, Task::Sst2, &data, &dev, dir.path(), &options, false, &Device::flex(), &mut Quiet).unwrap();
        (std::fs::read(dir.path().join("last/model.safetensors")).unwrap(), Checkpoint::open(dir.path()).unwrap().config)
    };
    // The tiny checkpoint's own dropout is 0.1: asking for it changes nothing, asking for 0 does.
    assert_eq!(checkpoint.config.hidden_dropout_prob, 0.1);
    let (default_weights, default_config) = train(None);
    let (same_weights, _) = train(Some(0.1));
    let (no_dropout_weights, no_dropout_config) = train(Some(0.0));
    assert!(default_weights == same_weights, "--dropout 0.1 on a 0.1 checkpoint changed the run");
    assert!(default_weights != no_dropout_weights, "--dropout 0 left the run unchanged");
    assert_eq!((default_config.hidden_dropout_prob, default_config.attention_probs_dropout_prob), (0.1, 0.1));
    assert_eq!((no_dropout_config.hidden_dropout_prob, no_dropout_config.attention_probs_dropout_prob), (0.0, 0.0));
}

#[test]
fn resume_equals_uninterrupted() {
    let _turn = turn();
    let (a, b) = (common::tempdir(), common::tempdir());
    let uninterrupted = run(a.path(), 9, false, &mut Quiet).unwrap();
    run(b.path(), 9, false, &mut StopAt(4)).unwrap();
    let state: RunState = serde_json::from_slice(&std::fs::read(b.path().join("last/state.json")).unwrap()).unwrap();
    assert_eq!(state.cursor.step, 4);
    let resumed = run(b.path(), 9, true, &mut Quiet).unwrap();
    assert!(resumed == uninterrupted, "resumed run ended with other weights");
    // Resuming with other settings is refused.
    let err = {
        let (_d, checkpoint, data, dev) = setup();
        let mut o = options(9, 1e-3);
        o.train.lr = 1e-2;
        finetune(&checkpoint, &FfnPlan::all(3), Task::Sst2, &data, &dev, b.path(), &o, true, &Device::flex(), &mut Quiet).unwrap_err()
    };
    assert!(err.to_string().contains("pass the same settings"), "{err}");
}

#[test]
fn nan_loss_stops_with_a_clear_error_and_keeps_the_last_checkpoint() {
    let _turn = turn();
    let dir = common::tempdir();
    let (_d, checkpoint, data, dev) = setup();
    let mut o = options(20, 1e30);
    o.train.max_grad_norm = 0.0;
    o.save_every = 1;
    let err = finetune(&checkpoint, &FfnPlan::all(3), Task::Sst2, &data, &dev, dir.path(), &o, false, &Device::flex(), &mut Quiet).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, TrainError::NonFinite { .. }), "{msg}");
    assert!(msg.contains("The last good state is in"), "{msg}");
    // The last good checkpoint is intact and loads.
    let state: RunState = serde_json::from_slice(&std::fs::read(dir.path().join("last/state.json")).unwrap()).unwrap();
    assert!(state.cursor.step >= 1);
    let weights = std::fs::read(dir.path().join("last/model.safetensors")).unwrap();
    assert!(safetensors::SafeTensors::deserialize(&weights).is_ok());
}

#[test]
fn the_same_run_works_on_wgpu() {
    // `--device wgpu` is the GPU path; here it runs its WGSL kernels on Mesa's lavapipe.
    let _turn = turn();
    let dir = common::tempdir();
    let (_d, checkpoint, data, dev) = setup();
    let device = pollster::block_on(undivided::device::init_device(undivided::device::Backend::Wgpu)).unwrap();
    let results =
        finetune(&checkpoint, &FfnPlan::parse("0", 3).unwrap(), Task::Sst2, &data, &dev, dir.path(), &options(2, 1e-3), false, &device, &mut Quiet).unwrap();
    assert_eq!(results.steps, 2);
    assert!(results.device.contains("Wgpu"), "{}", results.device);
    assert!(results.dev[0].1.metrics["accuracy"].is_finite());
}

#[test]
fn a_teacher_overrides_wrong_labels_when_alpha_is_one() {
    // Task distillation is wired in: a student trained on inverted labels with alpha = 1 learns
    // the teacher's (right) answers; without a teacher it learns the inverted ones.
    let _turn = turn();
    let (_d, checkpoint, data, dev) = setup();
    let teacher_dir = common::tempdir();
    let teacher =
        finetune(&checkpoint, &FfnPlan::all(3), Task::Sst2, &data, &dev, teacher_dir.path(), &options(40, 2e-3), false, &Device::flex(), &mut Quiet).unwrap();
    assert!(teacher.best_value.is_some_and(|v| v >= 0.9), "the teacher did not learn the toy task: {:?}", teacher.best_value);

    let mut inverted = data.clone();
    for l in &mut inverted.labels {
        *l = if *l == Label::Class(1) { Label::Class(0) } else { Label::Class(1) };
    }
    let student = |teacher: Option<&Path>| {
        let out = common::tempdir();
        let mut o = options(40, 2e-3);
        o.teacher = teacher.map(Path::to_path_buf);
        o.train.distill = teacher.map(|_| undivided::train::DistillConfig { temperature: 2.0, alpha: 1.0, ..Default::default() });
        let r =
            finetune(&checkpoint, &FfnPlan::parse("1", 3).unwrap(), Task::Sst2, &inverted, &dev, out.path(), &o, false, &Device::flex(), &mut Quiet).unwrap();
        (r.dev[0].1.metrics["accuracy"], r)
    };
    let (with_teacher, r) = student(Some(teacher_dir.path()));
    let (without, _) = student(None);
    assert!(with_teacher >= 0.9 && without <= 0.1, "accuracy on the true labels: with teacher {with_teacher}, without {without}");
    assert_eq!(r.options.teacher.as_deref(), Some(teacher_dir.path()), "results.json names the teacher");

    // A teacher fine-tuned for another number of labels is refused with its path.
    let mut o = options(2, 1e-3);
    o.teacher = Some(teacher_dir.path().to_path_buf());
    o.train.distill = Some(Default::default());
    let out = common::tempdir();
    let err = finetune(&checkpoint, &FfnPlan::all(3), Task::Mnli, &data, &dev, out.path(), &o, false, &Device::flex(), &mut Quiet).unwrap_err();
    assert!(err.to_string().contains("its head has 2 labels but mnli has 3"), "{err}");
}

#[test]
fn layer_to_layer_distillation_pulls_hidden_states_and_attentions_to_the_teacher() {
    // `--distill-hidden` / `--distill-attention` are wired in: with them, a reduced student ends
    // closer to the fine-tuned teacher layer by layer than with soft targets alone.
    let _turn = turn();
    let (_d, checkpoint, data, dev) = setup();
    let teacher_dir = common::tempdir();
    finetune(&checkpoint, &FfnPlan::all(3), Task::Sst2, &data, &dev, teacher_dir.path(), &options(40, 2e-3), false, &Device::flex(), &mut Quiet).unwrap();
    let teacher = Checkpoint::open(teacher_dir.path()).unwrap().load_classifier(None, &Device::flex()).unwrap().0;
    let all: Vec<usize> = (0..data.len()).collect();
    let batch = data.batch(&all, checkpoint.tokenizer.pad_id());
    let distill = |hidden_weight: f64, attention_weight: f64| {
        let mut o = options(40, 2e-3);
        o.teacher = Some(teacher_dir.path().to_path_buf());
        o.train.distill = Some(DistillConfig { temperature: 2.0, alpha: 0.5, hidden_weight, attention_weight });
        // Without dropout: on a model this small, which masks a run draws moves the distances
        // as much as the layer losses do.
        o.dropout = Some(0.0);
        o
    };
    let distance_after = |o: &FinetuneOptions| {
        let out = common::tempdir();
        finetune(&checkpoint, &FfnPlan::parse("1", 3).unwrap(), Task::Sst2, &data, &dev, out.path(), o, false, &Device::flex(), &mut Quiet).unwrap();
        let student = Checkpoint::open(out.path()).unwrap().load_classifier(None, &Device::flex()).unwrap().0;
        let l = heal_losses(&student.bert, &teacher.bert, &batch, &Device::flex(), &HealConfig::default(), Share::WHOLE);
        (l.hidden.into_scalar::<f32>(), l.attention.into_scalar::<f32>())
    };
    let (hidden_soft, attention_soft) = distance_after(&distill(0.0, 0.0));
    let (hidden_layers, attention_layers) = distance_after(&distill(1.0, 1.0));
    assert!(
        hidden_layers < 0.7 * hidden_soft && attention_layers < 0.7 * attention_soft,
        "student-teacher hidden MSE {hidden_soft} -> {hidden_layers}, attention KL {attention_soft} -> {attention_layers}"
    );

    // A teacher of another depth cannot be distilled layer to layer; it is refused by path.
    let shallow = common::tempdir();
    for f in std::fs::read_dir(teacher_dir.path()).unwrap() {
        let f = f.unwrap();
        if f.file_type().unwrap().is_file() {
            std::fs::copy(f.path(), shallow.path().join(f.file_name())).unwrap();
        }
    }
    let config_path = shallow.path().join("config.json");
    let mut config: serde_json::Value = serde_json::from_slice(&std::fs::read(&config_path).unwrap()).unwrap();
    config["num_hidden_layers"] = 2.into();
    config["ffn_layers"] = serde_json::json!([0, 1]);
    std::fs::write(&config_path, config.to_string()).unwrap();
    let mut o = distill(1.0, 0.0);
    o.teacher = Some(shallow.path().to_path_buf());
    let out = common::tempdir();
    let err = finetune(&checkpoint, &FfnPlan::parse("1", 3).unwrap(), Task::Sst2, &data, &dev, out.path(), &o, false, &Device::flex(), &mut Quiet).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains(&shallow.path().display().to_string()) && msg.contains("layer-to-layer distillation needs the student's shape"), "{msg}");
}

/// One decided behaviour for the starting head, shared by the CLI and the page: a pre-trained
/// encoder gets a new head, a checkpoint fine-tuned on this task keeps its head, and one
/// fine-tuned for other labels (or on another task) keeps its encoder and gets a new head, said.
#[test]
fn the_starting_head_is_new_kept_or_replaced_and_the_run_says_so() {
    use undivided::train::{Head, start_classifier};
    let _turn = turn();
    let (_d, checkpoint, data, dev) = setup();
    let device = Device::flex().autodiff();
    let plan = FfnPlan::all(3);
    let (_, head, report) = start_classifier(&checkpoint, None, &plan, Task::Sst2, 1, &device).unwrap();
    assert_eq!((head, report.new_head), (Head::New, true));

    let sst2 = common::tempdir();
    let r = finetune(&checkpoint, &plan, Task::Sst2, &data, &dev, sst2.path(), &options(2, 1e-3), false, &Device::flex(), &mut Quiet).unwrap();
    assert_eq!(r.head_notice, None, "a pre-trained encoder's new head needs no notice");
    let fine_tuned = Checkpoint::open(sst2.path()).unwrap();
    let (kept, head, report) = start_classifier(&fine_tuned, None, &plan, Task::Sst2, 1, &device).unwrap();
    assert_eq!((head, report.new_head), (Head::Kept, false));
    let original = fine_tuned.load_classifier(None, &device).unwrap().0;
    assert_eq!(common::to_vec(kept.classifier.weight.val()), common::to_vec(original.classifier.weight.val()), "the head was kept");

    // On another task with as many labels (RTE: 2) and with more (MNLI: 3): a new head, said.
    for (task, labels) in [(Task::Rte, 2), (Task::Mnli, 3)] {
        let (model, head, report) = start_classifier(&fine_tuned, None, &plan, task, 1, &device).unwrap();
        assert!(matches!(&head, Head::Replaced { labels: 2, task: Some(t) } if t == "sst2"), "{task}: {head:?}");
        assert!(report.new_head && report.ignored.iter().any(|n| n.contains("classifier")), "{report:?}");
        assert_eq!(model.num_labels(), labels);
        assert!(head.notice(&fine_tuned.source, task).unwrap().contains("new"), "{head:?}");
    }
    let mut mnli_data = data.clone();
    mnli_data.task = Task::Mnli;
    let out = common::tempdir();
    let dev_mnli: Vec<(String, Prepared)> = dev.iter().map(|(n, d)| (n.clone(), Prepared { task: Task::Mnli, ..d.clone() })).collect();
    let r = finetune(&fine_tuned, &plan, Task::Mnli, &mnli_data, &dev_mnli, out.path(), &options(2, 1e-3), false, &Device::flex(), &mut Quiet).unwrap();
    assert!(r.head_notice.as_deref().is_some_and(|n| n.contains("2 label(s)")), "{:?}", r.head_notice);
}

/// `Prepared::single` is the one-sentence set that `predict` and the page classify.
#[test]
fn a_single_sentence_or_pair_is_one_row() {
    let (_d, checkpoint, _, _) = setup();
    let one = Prepared::single(&checkpoint.tokenizer, Task::Sst2, &undivided::TextInput::Single("the movie".into())).unwrap();
    let pair = Prepared::single(&checkpoint.tokenizer, Task::Rte, &undivided::TextInput::Pair("a film".into(), "the movie".into())).unwrap();
    assert_eq!((one.len(), pair.len()), (1, 1));
    assert!(pair.rows[0].input_ids.len() > one.rows[0].input_ids.len());
    assert!(Prepared::single(&checkpoint.tokenizer, Task::Sst2, &undivided::TextInput::Single("  ".into())).is_err());
}

/// Issue 20, class 7: a crash between the two renames that replace `last/` leaves the complete
/// copy beside it; resume puts it back, says so, and ends as an uninterrupted run would. A
/// `state.json` that disagrees with the run's settings is refused, not trusted.
#[test]
fn resume_recovers_a_half_replaced_last_and_checks_the_state() {
    struct Notices(Vec<String>);
    impl Observer for Notices {
        fn on_notice(&mut self, text: &str) {
            self.0.push(text.to_string());
        }
    }
    let _turn = turn();
    let (a, b) = (common::tempdir(), common::tempdir());
    let uninterrupted = run(a.path(), 9, false, &mut Quiet).unwrap();
    run(b.path(), 9, false, &mut StopAt(4)).unwrap();
    std::fs::rename(b.path().join("last"), b.path().join("last.old")).unwrap();
    let mut notices = Notices(Vec::new());
    let resumed = run(b.path(), 9, true, &mut notices).unwrap();
    assert!(resumed == uninterrupted, "resumed from last.old with other weights");
    assert!(notices.0.iter().any(|n| n.contains("last.old") && n.contains("missing")), "{:?}", notices.0);

    // A state.json whose numbers do not fit the run: refused with the file named.
    let c = common::tempdir();
    run(c.path(), 9, false, &mut StopAt(4)).unwrap();
    let path = c.path().join("last/state.json");
    let original: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    for (field, value) in [
        ("total_steps", serde_json::json!(1_000_000_000_000u64)),
        ("step", serde_json::json!(u64::MAX)),
        ("next_batch", serde_json::json!(99)),
        ("train_seconds", serde_json::json!(-5.0)),
    ] {
        let mut state = original.clone();
        state[field] = value;
        std::fs::write(&path, state.to_string()).unwrap();
        let err = run(c.path(), 9, true, &mut Quiet).unwrap_err().to_string();
        assert!(err.contains("cannot resume from") && err.contains("state.json"), "{field}: {err}");
    }
}

/// Issue 20, class 3: a fresh run into a folder that holds an earlier run keeps that run's
/// `last/` until it has its own, and a failure before then says so instead of "no checkpoint".
#[test]
fn a_fresh_run_keeps_an_earlier_runs_state_until_it_has_its_own() {
    let _turn = turn();
    let dir = common::tempdir();
    run(dir.path(), 4, false, &mut Quiet).unwrap();
    let earlier = std::fs::read(dir.path().join("last/model.safetensors")).unwrap();
    let (_d, checkpoint, data, dev) = setup();
    let mut o = options(20, 1e30);
    o.train.max_grad_norm = 0.0;
    o.save_every = 0;
    let err = finetune(&checkpoint, &FfnPlan::all(3), Task::Sst2, &data, &dev, dir.path(), &o, false, &Device::flex(), &mut Quiet).unwrap_err().to_string();
    assert!(err.contains("No checkpoint of this run had been written yet") && err.contains("earlier run's state"), "{err}");
    assert_eq!(std::fs::read(dir.path().join("last/model.safetensors")).unwrap(), earlier, "the earlier run's last/ was lost");
    assert!(dir.path().join("log.previous.jsonl").is_file(), "the earlier log is kept beside the new one");
}

/// Inference runs a batch's rows in slices on two threads on the CPU (as a training step does);
/// rows are independent, so the logits equal one pass over the whole batch.
#[test]
fn inference_in_row_slices_equals_one_pass() {
    use undivided::train::eval::{by_row_parts, predict_logits};
    let (_d, checkpoint, data, _) = setup();
    let device = Device::flex();
    let (model, _) = checkpoint.load_classifier(None, &device).unwrap();
    let all: Vec<usize> = (0..data.len()).collect();
    let batch = data.batch(&all, checkpoint.tokenizer.pad_id());
    let whole = common::to_vec(model.forward(batch.to_input(&device)));
    let sliced: Vec<f32> = by_row_parts(&batch, 3, &|b| common::to_vec(model.forward(b.to_input(&device)))).concat();
    assert!(common::max_abs_diff(&whole, &sliced) < 1e-5);
    let logits: Vec<f32> = predict_logits(&model, &data, checkpoint.tokenizer.pad_id(), 64, &device).concat();
    assert_eq!(logits.len(), whole.len());
    assert!(common::max_abs_diff(&whole, &logits) < 1e-4, "evaluation's logits differ from one pass");
}
