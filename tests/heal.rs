//! Healing on a tiny random BERT: the reduced student's hidden-state loss falls, and the teacher
//! is never updated.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use burn::tensor::Device;
use undivided::checkpoint::bert_to_safetensors;
use undivided::model::FfnPlan;
use undivided::train::heal::{HealConfig, Healer};
use undivided::{Checkpoint, TextInput};

#[test]
fn a_short_heal_lowers_the_hidden_loss_and_leaves_the_teacher_alone() {
    let dir = common::tiny_checkpoint_dir();
    let checkpoint = Checkpoint::open(dir.path()).unwrap();
    let device = Device::flex().autodiff();
    let (teacher, _) = checkpoint.load_bert(None, &device.clone().without_autodiff()).unwrap();
    let (student, _) = checkpoint.load_bert(Some(&FfnPlan::parse("1", 3).unwrap()), &device).unwrap();
    let teacher_before = pollster::block_on(bert_to_safetensors(&teacher)).unwrap();

    let texts: Vec<TextInput> = ["the movie was good", "a film is not very bad", "the film was very good", "a movie is bad"]
        .iter()
        .map(|t| TextInput::Single(t.to_string()))
        .collect();
    let batch = checkpoint.tokenizer.encode_batch(&texts).unwrap();
    let config = HealConfig { lr: 3e-3, warmup_ratio: 0.0, ..HealConfig::default() };
    let mut healer = Healer::new(student, teacher, config, 40, &device);
    let mut hidden = Vec::new();
    for _ in 0..40 {
        hidden.push(healer.step(&batch).hidden.into_scalar::<f32>());
    }
    // Dropout keeps single steps noisy: compare the first and last five.
    let first = hidden[..5].iter().sum::<f32>() / 5.0;
    let last = hidden[35..].iter().sum::<f32>() / 5.0;
    assert!(last < first * 0.8, "hidden-state loss {first} -> {last}: {hidden:?}");

    let teacher_after = pollster::block_on(bert_to_safetensors(&healer.teacher)).unwrap();
    assert!(teacher_before == teacher_after, "the teacher's weights changed");
}
