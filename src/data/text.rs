//! Unlabelled text for healing: a plain text file (one sentence per line), or the sentences of
//! GLUE TSV files with their labels ignored.

use std::path::{Path, PathBuf};

use super::glue::{DataError, Dataset, Example, Label, Task, read_split};

/// Reads the sentences at `path`:
/// - a folder of a GLUE task (`.../SST-2`) or a `.tsv` file: the task's rows (sentence pairs for
///   pair tasks), labels ignored; the task comes from `task` or else from the folder name;
/// - any other file: one sentence per non-empty line.
///
/// The result is a [`Dataset`] whose labels are all `Class(0)`, so it batches like labelled data.
pub fn read_texts(path: &Path, task: Option<Task>, skip_bad: bool) -> Result<Dataset, DataError> {
    let is_tsv = path.extension().is_some_and(|e| e.eq_ignore_ascii_case("tsv"));
    if path.is_dir() || is_tsv {
        let (dir, file) = if path.is_dir() {
            (path.to_path_buf(), "train.tsv".to_string())
        } else {
            let file = path.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default();
            (path.parent().map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from(".")), file)
        };
        let task = match task {
            Some(t) => t,
            None => task_of_folder(&dir).ok_or_else(|| DataError::Io {
                path: path.to_path_buf(),
                source: std::io::Error::other("cannot tell which GLUE layout this is from the folder name; pass --text-task (sst2, rte, ...)"),
            })?,
        };
        let mut set = read_split(task, &dir, &file, skip_bad)?;
        for e in &mut set.examples {
            e.label = Label::Class(0);
        }
        return Ok(set);
    }
    let bytes = super::read_capped(path, super::MAX_TEXT_BYTES, "text file").map_err(|source| DataError::Io { path: path.to_path_buf(), source })?;
    let text = String::from_utf8(bytes).map_err(|e| DataError::Io {
        path: path.to_path_buf(),
        source: std::io::Error::other(format!("not UTF-8 text (invalid byte at offset {})", e.utf8_error().valid_up_to())),
    })?;
    lines_to_dataset(&text, path)
}

/// One example per non-empty line of `text` (`path` only names it in errors).
pub fn lines_to_dataset(text: &str, path: &Path) -> Result<Dataset, DataError> {
    let examples: Vec<Example> =
        text.lines().map(str::trim).filter(|l| !l.is_empty()).map(|l| Example { text_a: l.to_string(), text_b: None, label: Label::Class(0) }).collect();
    if examples.is_empty() {
        return Err(DataError::Empty { path: path.to_path_buf() });
    }
    Ok(Dataset { task: Task::Sst2, examples, skipped: Vec::new() })
}

/// The GLUE task whose distributed folder name (`SST-2`, `RTE`, ...) `dir` has.
fn task_of_folder(dir: &Path) -> Option<Task> {
    let name = dir.canonicalize().ok()?.file_name()?.to_string_lossy().into_owned();
    Task::ALL.into_iter().find(|t| t.dir_name().eq_ignore_ascii_case(&name) || t.name().eq_ignore_ascii_case(&name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_skip_blanks_and_empty_files_are_errors() {
        let set = lines_to_dataset("first sentence\n\n  second one  \n", Path::new("t.txt")).unwrap();
        let texts: Vec<&str> = set.examples.iter().map(|e| e.text_a.as_str()).collect();
        assert_eq!(texts, ["first sentence", "second one"]);
        let err = lines_to_dataset("\n \n", Path::new("empty.txt")).unwrap_err();
        assert!(err.to_string().contains("empty.txt"), "{err}");
    }
}
