//! Splits of one set into two: a user's TSV into training and dev rows (the page), and
//! unlabelled sentences into training and held-out rows (healing).

use super::{DataError, Dataset, Prepared, Task, parse_tsv};

/// Reads a GLUE TSV the user dropped into the page (`name` is the file name for errors) and
/// splits it 80/20 into training and dev rows (every fifth row is dev), so the page can report
/// dev accuracy on the user's own data.
pub fn split_user_tsv(task: Task, name: &str, text: &str) -> Result<(Dataset, Dataset), DataError> {
    let set = parse_tsv(task, text, std::path::Path::new(name), false)?;
    if set.examples.len() < 5 {
        return Err(DataError::TooFew { path: name.into(), rows: set.examples.len(), expected: 5, why: "one in five is held out for dev accuracy" });
    }
    let (mut train, mut dev) = (set.clone(), set.clone());
    train.examples.clear();
    dev.examples.clear();
    for (i, e) in set.examples.into_iter().enumerate() {
        if i % 5 == 4 { dev.examples.push(e) } else { train.examples.push(e) }
    }
    Ok((train, dev))
}

/// Splits `texts` into training rows and a held-out set of at most `max_held_out` rows (2%,
/// at least 1 when there are 2 rows or more), taken evenly across the file.
pub fn split_held_out(texts: &Prepared, max_held_out: usize) -> (Prepared, Prepared) {
    let n = texts.len();
    let held = (n / 50).clamp(usize::from(n >= 2), max_held_out);
    let every = n.checked_div(held).unwrap_or(usize::MAX);
    let (mut train, mut dev) = (texts.clone(), texts.clone());
    train.rows.clear();
    train.labels.clear();
    dev.rows.clear();
    dev.labels.clear();
    for (i, (row, label)) in texts.rows.iter().zip(&texts.labels).enumerate() {
        let target = if every != usize::MAX && i % every == every - 1 && dev.rows.len() < held { &mut dev } else { &mut train };
        target.rows.push(row.clone());
        target.labels.push(*label);
    }
    (train, dev)
}
