//! The comparison as text. Runs are named by letter (`A` is the baseline) in a legend at
//! the top, so rows stay short whatever the paths. Report files get one table with a row
//! per field and the runs side by side; folders get compact rows, one per run and cell
//! (req/s, p50, p99, p99.9, errors), that fit 120 columns; `--wide` gives every field a
//! row per run. Numbers are right-aligned, value, ratio and verdict in columns of their
//! own; notes come right under their group. The verdicts are [`super::verdict`]'s.

use crate::analysis::fields::{COLUMNS, CPU_COLUMNS, Field};

use super::verdict::{self, Column, Judged, Verdict};
use super::{Comparison, Group};

/// How much a table shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Layout {
    /// Folders: a compact row per run and cell; report files: every field, a row each.
    #[default]
    Compact,
    /// Every field, a row per run (and cell).
    Wide,
}

/// The fields of a compact folder row.
pub const COMPACT: [Field; 5] = [
    Field::Rps,
    Field::P50,
    Field::P99,
    Field::P999,
    Field::Errors,
];

/// The label of input `n`: `A`, `B`, ... `Z`, then `R27`, `R28`, ...
pub fn label(n: usize) -> String {
    match u8::try_from(n) {
        Ok(i) if i < 26 => char::from(b'A' + i).to_string(),
        _ => format!("R{}", n + 1),
    }
}

/// A ratio for a table: `0.092x`, `0.92x`, `12.4x`, `310x` (at most 6 characters below
/// 10^5).
pub fn show_ratio(r: f64) -> String {
    if !r.is_finite() {
        String::new()
    } else if r > 0.0 && r < 0.0995 {
        format!("{r:.3}x")
    } else if r < 9.995 {
        format!("{r:.2}x")
    } else if r < 99.95 {
        format!("{r:.1}x")
    } else {
        format!("{r:.0}x")
    }
}

/// The verdict legend: which rule decides `same`.
pub fn legend() -> [String; 3] {
    [
        format!(
            "verdict against A: same = within {}x the combined standard error of the per-second values \
             (req/s, p50, p99,",
            verdict::SPREAD_K
        ),
        format!(
            "  ok, errors; at least {}%; if no second of one run overlaps the other's: {}% only), else \
             within {}%",
            verdict::SPREAD_FLOOR * 100.0,
            verdict::SPREAD_FLOOR * 100.0,
            verdict::FIXED_RELATIVE * 100.0
        ),
        "counts per second (ok/s, errors/s) when run lengths differ; the rule of each verdict: --json"
            .to_owned(),
    ]
}

/// The width text lines keep to (a line holding one long word, a path, may not).
pub const WIDTH: usize = 120;

/// `text` broken at spaces into lines of at most [`WIDTH`] characters, the lines after
/// the first indented by two spaces.
fn wrap(text: &str) -> Vec<String> {
    let mut lines = vec![String::new()];
    for word in text.split(' ') {
        let line = lines.last_mut().expect("one line at least");
        let len = line.chars().count();
        if len > 2 && len + 1 + word.chars().count() > WIDTH {
            lines.push(format!("  {word}"));
        } else {
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(word);
        }
    }
    lines
}

/// One cell of a grid: text and alignment.
struct Cell(String, bool);

fn left(text: impl Into<String>) -> Cell {
    Cell(text.into(), false)
}

fn right(text: impl Into<String>) -> Cell {
    Cell(text.into(), true)
}

/// Rows of cells as aligned lines: every column as wide as its widest cell, one space
/// between columns, no trailing spaces.
fn grid(rows: &[Vec<Cell>]) -> Vec<String> {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|cell| cell.0.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    rows.iter()
        .map(|row| {
            let mut line = String::new();
            for (c, Cell(text, right)) in row.iter().enumerate() {
                if c > 0 {
                    line.push(' ');
                }
                let w = widths[c];
                if *right {
                    line.push_str(&format!("{text:>w$}"));
                } else {
                    line.push_str(&format!("{text:<w$}"));
                }
            }
            line.trim_end().to_owned()
        })
        .collect()
}

/// Value, ratio and verdict of one judged cell (`-` when the run lacks the field).
fn triple(column: Column, judged: Option<Judged>) -> [Cell; 3] {
    match judged {
        None => [right("-"), right(""), left("")],
        Some(j) => [
            right(column.show(j.value)),
            right(j.ratio.map(show_ratio).unwrap_or_default()),
            left(j.verdict.map(Verdict::word).unwrap_or_default()),
        ],
    }
}

/// The fields of a wide row or a report-file table: the table columns (for report files
/// only those a run has: a forced report of another version may lack some; folder rows
/// keep them all, so the columns line up from cell to cell), and the CPU columns a run of
/// the group measured.
fn all_fields(group: &Group, folders: bool) -> Vec<Field> {
    let has = |f: &Field| group.runs.iter().any(|r| r.get(*f).is_some());
    COLUMNS
        .into_iter()
        .filter(|f| folders || has(f))
        .chain(CPU_COLUMNS.into_iter().filter(has))
        .collect()
}

/// A row per run: label (or name, when `names`), then value, ratio, verdict per column.
fn rows(group: &Group, columns: &[Column], names: bool) -> Vec<Vec<Cell>> {
    let mut head = vec![left("")];
    for c in columns {
        head.extend([right(c.name()), right(""), left("")]);
    }
    let mut table = vec![head];
    for (n, run) in group.runs.iter().enumerate() {
        let mut row = vec![left(if names { run.name.clone() } else { label(n) })];
        for &c in columns {
            row.extend(triple(c, verdict::judge(group, n, c)));
        }
        table.push(row);
    }
    table
}

/// A row per field, the runs side by side (the baseline without ratio and verdict).
fn fields_as_rows(group: &Group, columns: &[Column]) -> Vec<Vec<Cell>> {
    let mut head = vec![left("field"), right(label(0))];
    for n in 1..group.runs.len() {
        head.extend([right(label(n)), right("ratio"), left("verdict")]);
    }
    let mut table = vec![head];
    for &c in columns {
        let mut row = vec![left(c.name())];
        for n in 0..group.runs.len() {
            let [value, ratio, verdict] = triple(c, verdict::judge(group, n, c));
            row.push(value);
            if n > 0 {
                row.extend([ratio, verdict]);
            }
        }
        table.push(row);
    }
    table
}

/// The columns `layout` shows for `group`.
fn shown(group: &Group, layout: Layout, folders: bool) -> Vec<Column> {
    match (layout, folders) {
        (Layout::Compact, true) => verdict::columns(group, &COMPACT),
        _ => verdict::columns(group, &all_fields(group, folders)),
    }
}

/// The comparison as text: the legend of inputs, a table per group with its notes under
/// it, the cells not compared, a count of verdicts per run and the verdict rule. The
/// groups' tables share their column widths, so columns line up down the whole output.
pub fn format(comparison: &Comparison, layout: Layout) -> String {
    let mut lines = Vec::new();
    let folders = comparison
        .groups
        .iter()
        .any(|g| g.runs.iter().any(|r| r.cell.is_some()));
    if let Some(first) = comparison.groups.first() {
        for (n, run) in first.runs.iter().enumerate() {
            let base = if n == 0 { " (baseline)" } else { "" };
            lines.push(format!("{}  {}{base}", label(n), run.input));
        }
    }
    let tables: Vec<Vec<Vec<Cell>>> = comparison
        .groups
        .iter()
        .map(|group| {
            let columns = shown(group, layout, folders);
            match (layout, folders) {
                (Layout::Compact, false) => fields_as_rows(group, &columns),
                _ => rows(group, &columns, layout == Layout::Wide && folders),
            }
        })
        .collect();
    let sizes: Vec<usize> = tables.iter().map(Vec::len).collect();
    let mut aligned = grid(&tables.into_iter().flatten().collect::<Vec<_>>()).into_iter();
    for (g, (group, size)) in comparison.groups.iter().zip(sizes).enumerate() {
        lines.push(String::new());
        lines.push(format!("== {}", group.key));
        lines.extend(aligned.by_ref().take(size));
        for note in comparison.notes.iter().filter(|n| n.group == g) {
            lines.extend(wrap(&format!("note: {} {}", label(note.run), note.text)));
        }
    }
    if !comparison.unpaired.is_empty() {
        lines.push(String::new());
        lines.push("not compared (no cell with the same settings in every folder):".to_owned());
        lines.extend(comparison.unpaired.iter().map(|name| format!("  {name}")));
    }
    lines.push(String::new());
    lines.extend(tally(comparison, layout, folders));
    lines.extend(legend());
    let mut out = lines.join("\n");
    out.push('\n');
    out
}

/// `B vs A in 5 cells: 1 better, 3 worse, 21 same`, one line per run after the first,
/// over the cells shown.
fn tally(comparison: &Comparison, layout: Layout, folders: bool) -> Vec<String> {
    let runs = comparison.groups.first().map_or(0, |g| g.runs.len());
    let mut counts = vec![[0usize; 3]; runs];
    for group in &comparison.groups {
        for c in shown(group, layout, folders) {
            for (n, count) in counts.iter_mut().enumerate().skip(1) {
                let verdict = verdict::judge(group, n, c).and_then(|j| j.verdict);
                let slot = match verdict {
                    Some(Verdict::Better) => 0,
                    Some(Verdict::Worse) => 1,
                    Some(Verdict::Same) => 2,
                    None => continue,
                };
                count[slot] += 1;
            }
        }
    }
    let cells = if folders {
        format!(" in {} cells", comparison.groups.len())
    } else {
        String::new()
    };
    counts
        .iter()
        .enumerate()
        .skip(1)
        .map(|(n, [better, worse, same])| {
            format!(
                "{} vs A{cells}: {better} better, {worse} worse, {same} same",
                label(n)
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::compare::{Note, RunView};

    #[test]
    fn labels_and_ratios_stay_short() {
        assert_eq!(label(0), "A");
        assert_eq!(label(25), "Z");
        assert_eq!(label(26), "R27");
        assert_eq!(show_ratio(0.9234), "0.92x");
        assert_eq!(show_ratio(0.0093), "0.009x");
        assert_eq!(show_ratio(0.0), "0.00x");
        assert_eq!(show_ratio(12.45), "12.4x");
        assert_eq!(show_ratio(310.2), "310x");
        assert_eq!(show_ratio(f64::INFINITY), "");
        for line in legend() {
            assert!(line.len() <= 120, "{line}");
        }
    }

    #[test]
    fn long_notes_wrap_at_the_width() {
        let words = vec!["setting"; 40].join(" ");
        let lines = wrap(&format!("note: B {words}"));
        assert!(lines.len() > 1, "{lines:?}");
        assert!(
            lines.iter().all(|l| l.chars().count() <= WIDTH),
            "{lines:?}"
        );
        assert!(lines[1].starts_with("  setting"), "{lines:?}");
        assert_eq!(wrap("note: short"), ["note: short"]);
    }

    fn run(name: &str, cell: Option<&str>, values: &[(Field, f64)]) -> RunView {
        RunView {
            name: name.to_owned(),
            input: name.to_owned(),
            cell: cell.map(str::to_owned),
            duration_s: Some(5.0),
            values: values.iter().copied().collect(),
            ..RunView::default()
        }
    }

    #[test]
    fn report_files_get_a_row_per_field_and_zero_errors_show_as_zero() {
        let values = |p99: f64, errors: f64| {
            [
                (Field::Rps, 1000.0),
                (Field::P99, p99),
                (Field::Errors, errors),
            ]
        };
        let comparison = Comparison {
            groups: vec![Group {
                key: "tcp-echo".to_owned(),
                runs: vec![
                    run("a.json", None, &values(100e3, 0.0)),
                    run("b.json", None, &values(150e3, 0.0)),
                    run("c.json", None, &values(100e3, 4.0)),
                ],
            }],
            unpaired: Vec::new(),
            notes: vec![Note {
                group: 0,
                run: 2,
                text: "was interrupted (stopped early)".to_owned(),
            }],
        };
        let text = format(&comparison, Layout::Compact);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "A  a.json (baseline)");
        let at = lines.iter().position(|l| l.starts_with("field")).unwrap();
        assert_eq!(
            &lines[at..at + 5],
            [
                "field        A       B ratio verdict       C ratio verdict",
                "req/s     1000    1000 1.00x same       1000 1.00x same",
                "p99    100.0us 150.0us 1.50x worse   100.0us 1.00x same",
                "errors       0       0       same          4       worse",
                "note: C was interrupted (stopped early)",
            ],
            "{text}"
        );
        assert!(text.contains("B vs A: 0 better, 1 worse, 2 same"), "{text}");
        assert!(text.contains("C vs A: 0 better, 1 worse, 2 same"), "{text}");
    }

    #[test]
    fn folders_get_a_compact_row_per_run_and_the_note_under_its_cell() {
        let values = |p99: f64| {
            [
                (Field::Rps, 1000.0),
                (Field::P50, 50e3),
                (Field::P99, p99),
                (Field::P999, 200e3),
                (Field::Errors, 0.0),
                (Field::Ok, 5000.0),
            ]
        };
        let group = |key: &str, p99: f64| Group {
            key: key.to_owned(),
            runs: vec![
                run("x/a", Some("a"), &values(100e3)),
                run("y/b", Some("b"), &values(p99)),
            ],
        };
        let comparison = Comparison {
            groups: vec![group("tcp-echo", 90e3), group("udp-echo", 100e3)],
            unpaired: vec!["y/c".to_owned()],
            notes: vec![Note {
                group: 0,
                run: 1,
                text: "ran other settings than the baseline: connections 8 vs 4".to_owned(),
            }],
        };
        let text = format(&comparison, Layout::Compact);
        let lines: Vec<&str> = text.lines().collect();
        let at = lines.iter().position(|l| *l == "== tcp-echo").unwrap();
        assert_eq!(
            lines[at + 1..at + 4],
            [
                "  req/s               p50                p99                p99.9            errors",
                "A  1000            50.0us            100.0us              200.0us                 0",
                "B  1000 1.00x same 50.0us 1.00x same  90.0us 0.90x better 200.0us 1.00x same      0  same",
            ]
        );
        assert_eq!(
            lines[at + 4],
            "note: B ran other settings than the baseline: connections 8 vs 4"
        );
        assert_eq!(lines[at + 5], "");
        assert_eq!(lines[at + 6], "== udp-echo");
        assert!(text.contains("\n  y/c\n"), "{text}");
        assert!(
            text.contains("B vs A in 2 cells: 1 better, 0 worse, 9 same"),
            "{text}"
        );
        // --wide: every field, and the cells' names.
        let wide = format(&comparison, Layout::Wide);
        assert!(wide.contains("\ny/b "), "{wide}");
        assert!(
            wide.contains(" p99.99 ") && wide.contains(" 5000 1.00x same"),
            "{wide}"
        );
    }

    #[test]
    fn a_grid_right_aligns_numbers_and_trims_trailing_space() {
        let lines = grid(&[
            vec![left("A"), right("52.3us"), right(""), left("")],
            vec![left("B"), right("1.2ms"), right("22.9x"), left("worse")],
        ]);
        assert_eq!(lines, ["A 52.3us", "B  1.2ms 22.9x worse"]);
    }
}
