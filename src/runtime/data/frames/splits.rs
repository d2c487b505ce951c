//! The official split files of UCF101 and HMDB51: which videos train and test.

use super::*;

/// A video named by a split file, before its frames are counted.
pub(super) struct Listed {
    pub(super) class: usize,
    pub(super) stem: String,
    /// `file:line`, for error messages.
    pub(super) origin: String,
}

/// What the split files say, before touching the frame folders.
pub(super) struct Lists {
    pub(super) classes: Vec<String>,
    pub(super) train: Vec<Listed>,
    pub(super) test: Vec<Listed>,
}

/// Reads a split file, or says which file was expected and how to get it.
pub(super) fn read_split_file(path: &Path, what: &str) -> NodeResult<String> {
    if !path.is_file() {
        return Err(NodeError::Data(format!(
            "missing split file {}: copy the official {what} split files into the dataset root",
            path.display()
        )));
    }
    // Bounded, regular files only: split lists are a few hundred kilobytes.
    let bytes = crate::util::read_regular(path, 64 << 20)
        .map_err(|e| NodeError::Data(format!("cannot read split file: {e}")))?;
    String::from_utf8(bytes).map_err(|e| {
        NodeError::Data(format!(
            "cannot read split file {}: {e}; check it is readable UTF-8 text",
            path.display()
        ))
    })
}

/// Non-blank lines with their 1-based numbers, trimmed (so CRLF and a leading
/// byte-order mark do no harm).
pub(super) fn lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim_start_matches('\u{feff}').trim()))
        .filter(|(_, l)| !l.is_empty())
}

/// The folder name of a video file named in a split file: its stem.
pub(super) fn video_stem(name: &str) -> &str {
    name.strip_suffix(".avi").unwrap_or(name)
}

/// Where the official UCF101 split files are: the root itself, or the
/// `ucfTrainTestlist/` folder the official zip unpacks to, inside the root.
pub const UCF101_LISTS: &str = "ucfTrainTestlist";
/// The folder the official HMDB51 split archive unpacks to.
pub const HMDB51_LISTS: &str = "testTrainMulti_7030_splits";

pub(super) fn list_ucf101(root: &Path, split: u32) -> NodeResult<Lists> {
    const WHAT: &str = "UCF101 (ucfTrainTestlist: classInd.txt, trainlist0N.txt, testlist0N.txt) into the dataset root, or unzip UCF101TrainTestSplits-RecognitionTask.zip there (its ucfTrainTestlist/ folder is read too)";
    let lists = if !root.join("classInd.txt").is_file()
        && root.join(UCF101_LISTS).join("classInd.txt").is_file()
    {
        root.join(UCF101_LISTS)
    } else {
        root.to_path_buf()
    };
    let ind_path = lists.join("classInd.txt");
    let ind = read_split_file(&ind_path, WHAT)?;
    let mut numbered: BTreeMap<u32, String> = BTreeMap::new();
    for (n, line) in lines(&ind) {
        let at = || format!("{}:{n}", ind_path.display());
        let mut parts = line.split_whitespace();
        let (Some(num), Some(name), None) = (parts.next(), parts.next(), parts.next()) else {
            return Err(NodeError::Data(format!(
                "{}: malformed line `{line}`; expected `<number> <class>`, e.g. `1 ApplyEyeMakeup`",
                at()
            )));
        };
        let num: u32 = match num.parse() {
            Ok(v) if v >= 1 => v,
            _ => {
                return Err(NodeError::Data(format!(
                    "{}: malformed line `{line}`; the class number must be 1 or more",
                    at()
                )))
            }
        };
        if numbered.insert(num, name.to_string()).is_some() {
            return Err(NodeError::Data(format!(
                "{}: class number {num} appears twice",
                at()
            )));
        }
    }
    if numbered.is_empty() {
        return Err(NodeError::Data(format!(
            "{} lists no classes; restore the official file",
            ind_path.display()
        )));
    }
    if let Some((_, missing)) = numbered
        .keys()
        .zip(1u32..)
        .find(|(&have, want)| have != *want)
    {
        return Err(NodeError::Data(format!(
            "{}: class numbers must run 1, 2, … without gaps, but {missing} is missing",
            ind_path.display()
        )));
    }
    let classes: Vec<String> = numbered.into_values().collect();
    let by_name: BTreeMap<&str, usize> = classes
        .iter()
        .enumerate()
        .map(|(i, c)| (c.as_str(), i))
        .collect();
    if by_name.len() != classes.len() {
        return Err(NodeError::Data(format!(
            "{}: a class name appears twice",
            ind_path.display()
        )));
    }

    let list = |name: String| list_ucf101_file(&lists.join(name), WHAT, &by_name, &ind_path);
    let train = list(format!("trainlist{split:02}.txt"))?;
    let test = list(format!("testlist{split:02}.txt"))?;
    Ok(Lists {
        classes,
        train,
        test,
    })
}

/// The videos a UCF101 list file (`trainlist0N.txt`, `testlist0N.txt`)
/// names, each of a class numbered in `ind_path` (`by_name`).
fn list_ucf101_file(
    path: &Path,
    what: &str,
    by_name: &BTreeMap<&str, usize>,
    ind_path: &Path,
) -> NodeResult<Vec<Listed>> {
    let text = read_split_file(path, what)?;
    let mut out = Vec::new();
    for (n, line) in lines(&text) {
        let origin = format!("{}:{n}", path.display());
        let mut parts = line.split_whitespace();
        let (Some(file), label, None) = (parts.next(), parts.next(), parts.next()) else {
            return Err(NodeError::Data(format!(
                "{origin}: malformed line `{line}`; expected `<class>/<video>.avi [label]`"
            )));
        };
        let Some((class_name, file_name)) = file.split_once(['/', '\\']) else {
            return Err(NodeError::Data(format!(
                "{origin}: malformed line `{line}`; expected `<class>/<video>.avi [label]`"
            )));
        };
        let Some(&class) = by_name.get(class_name) else {
            return Err(NodeError::Data(format!(
                "{origin}: class `{class_name}` is not in {}; use the classInd.txt of the \
                 same split release",
                ind_path.display()
            )));
        };
        if let Some(label) = label {
            match label.parse::<usize>() {
                Ok(l) if l == class + 1 => {}
                Ok(l) => {
                    return Err(NodeError::Data(format!(
                        "{origin}: label {l} does not match class `{class_name}`, which is \
                         number {} in {}",
                        class + 1,
                        ind_path.display()
                    )))
                }
                Err(_) => {
                    return Err(NodeError::Data(format!(
                        "{origin}: malformed line `{line}`; the label must be a class number"
                    )))
                }
            }
        }
        let stem = video_stem(file_name);
        if stem.is_empty() || stem.contains(['/', '\\']) {
            return Err(NodeError::Data(format!(
                "{origin}: malformed line `{line}`; expected `<class>/<video>.avi [label]`"
            )));
        }
        out.push(Listed {
            class,
            stem: stem.to_string(),
            origin,
        });
    }
    Ok(out)
}

pub(super) fn list_hmdb51(root: &Path, split: u32) -> NodeResult<Lists> {
    let suffix = format!("_test_split{split}.txt");
    let mut with_split_files = BTreeSet::new();
    // The split files in the root, or in the folder the official archive
    // unpacks to, inside the root.
    let lists = match root.join(HMDB51_LISTS) {
        d if d.is_dir() => d,
        _ => root.to_path_buf(),
    };
    for entry in std::fs::read_dir(&lists)
        .map_err(|e| NodeError::Data(format!("cannot list {}: {e}", lists.display())))?
        .flatten()
    {
        if let Some(class) = entry.file_name().to_string_lossy().strip_suffix(&suffix) {
            if !class.is_empty() {
                with_split_files.insert(class.to_string());
            }
        }
    }
    let entries = std::fs::read_dir(root).map_err(|e| {
        NodeError::Data(format!("cannot list dataset root {}: {e}", root.display()))
    })?;
    let mut folders = BTreeSet::new();
    for entry in entries {
        let entry = entry.map_err(|e| {
            NodeError::Data(format!("cannot list dataset root {}: {e}", root.display()))
        })?;
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        let path = entry.path();
        if path.is_dir() && !name.starts_with('.') && name != HMDB51_LISTS {
            folders.insert(name);
        }
    }
    let with_split = with_split_files;
    if with_split.is_empty() {
        return Err(NodeError::Data(format!(
            "missing split files {}: found no `<class>{suffix}` file; copy the official HMDB51 \
             split files (testTrainMulti_7030_splits) into the dataset root",
            root.join(format!("<class>{suffix}")).display()
        )));
    }
    if let Some(folder) = folders.difference(&with_split).next() {
        return Err(NodeError::Data(format!(
            "missing split file {}: class folder {} has no split file; copy the official HMDB51 \
             split files (testTrainMulti_7030_splits) into the dataset root, or move that folder \
             out of it",
            root.join(format!("{folder}{suffix}")).display(),
            root.join(folder).display()
        )));
    }
    let classes: Vec<String> = with_split.into_iter().collect();
    let (mut train, mut test) = (Vec::new(), Vec::new());
    for (class, name) in classes.iter().enumerate() {
        let path = lists.join(format!("{name}{suffix}"));
        list_hmdb51_file(&path, class, &mut train, &mut test)?;
    }
    Ok(Lists {
        classes,
        train,
        test,
    })
}

/// The videos one HMDB51 class's split file names, as training (tag 1) or
/// test (tag 2) videos of `class`; tag 0 is left out.
fn list_hmdb51_file(
    path: &Path,
    class: usize,
    train: &mut Vec<Listed>,
    test: &mut Vec<Listed>,
) -> NodeResult<()> {
    let text = read_split_file(path, "HMDB51 (testTrainMulti_7030_splits)")?;
    for (n, line) in lines(&text) {
        let origin = format!("{}:{n}", path.display());
        let mut parts = line.split_whitespace();
        let (Some(file), Some(tag), None) = (parts.next(), parts.next(), parts.next()) else {
            return Err(NodeError::Data(format!(
                "{origin}: malformed line `{line}`; expected `<video>.avi <tag>` with tag 0, 1 \
                 or 2"
            )));
        };
        let stem = video_stem(file);
        if stem.is_empty() || stem.contains(['/', '\\']) {
            return Err(NodeError::Data(format!(
                "{origin}: malformed line `{line}`; expected `<video>.avi <tag>`"
            )));
        }
        let listed = Listed {
            class,
            stem: stem.to_string(),
            origin,
        };
        match tag {
            "1" => train.push(listed),
            "2" => test.push(listed),
            "0" => {}
            _ => {
                return Err(NodeError::Data(format!(
                    "{}: malformed line `{line}`; the tag must be 0 (unused), 1 (train) or 2 \
                     (test)",
                    listed.origin
                )))
            }
        }
    }
    Ok(())
}
