//! How series look: the Okabe-Ito palette (told apart with the common forms of colour
//! blindness) with a dash pattern per series as well, so two lines stay apart in grey
//! print and where one hides the other; and the HTML legend that shows both. A leaf of
//! `render`.

use std::fmt::Write as _;

use super::html::escape;

/// Okabe & Ito's palette, in the order series take it: blue, vermillion, bluish green,
/// reddish purple, orange, sky blue, black; its yellow is left out (it fades on white).
const PALETTE: [&str; 7] = [
    "#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000",
];

/// SVG `stroke-dasharray` values: solid for the first series only; one more than the
/// palette's colours, so the pairs repeat only after 56 series, and a series drawn on
/// top of an equal one (the later one) has gaps the earlier shows through.
const DASHES: [&str; 8] = [
    "",
    "12 6",
    "2 4",
    "12 4 2 4",
    "2 3 2 3 10 3",
    "6 3",
    "16 4 4 4",
    "1 4",
];

/// How one series is drawn: a palette colour and a dash pattern, by index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Look {
    /// Index into the palette (cycled).
    pub(super) colour: usize,
    /// Index into the dash patterns (cycled).
    pub(super) dash: usize,
}

impl Look {
    /// The look of the `i`th series: both indices `i`.
    pub(super) fn nth(i: usize) -> Look {
        Look { colour: i, dash: i }
    }

    /// Its colour, `#RRGGBB`.
    pub(super) fn colour(self) -> &'static str {
        PALETTE[self.colour % PALETTE.len()]
    }

    /// Its dash pattern (empty: solid).
    pub(super) fn dash(self) -> &'static str {
        DASHES[self.dash % DASHES.len()]
    }

    /// The SVG attributes of its line: stroke colour, width 2, the dash.
    pub(super) fn stroke(self) -> String {
        let mut attrs = format!(
            "fill=\"none\" stroke=\"{}\" stroke-width=\"2\"",
            self.colour()
        );
        if !self.dash().is_empty() {
            let _ = write!(attrs, " stroke-dasharray=\"{}\"", self.dash());
        }
        attrs.push_str(" stroke-linejoin=\"round\"");
        attrs
    }
}

/// The HTML legend of a chart's series: a short line in each series' colour and dash,
/// then its name (and, when given, a note after it in grey).
pub(super) fn legend(entries: &[(Look, &str, Option<&str>)]) -> String {
    let mut out = String::from("<ul class=\"legend\">");
    for (look, name, note) in entries {
        // A little bolder than the chart's line: the swatch is short.
        let line = format!(
            "<line x1=\"1\" y1=\"6\" x2=\"43\" y2=\"6\" {}/>",
            look.stroke()
        )
        .replace("stroke-width=\"2\"", "stroke-width=\"3\"");
        let _ = write!(
            out,
            "<li><svg class=\"swatch\" xmlns=\"http://www.w3.org/2000/svg\" width=\"44\" \
             height=\"12\" viewBox=\"0 0 44 12\">{line}</svg>{}",
            escape(name)
        );
        if let Some(note) = note {
            let _ = write!(out, " <span class=\"note\">{}</span>", escape(note));
        }
        out.push_str("</li>");
    }
    out.push_str("</ul>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colour_and_dash_pairs_do_not_repeat_within_a_nagle_matrix() {
        let pairs: Vec<(&str, &str)> = (0..16)
            .map(|i| (Look::nth(i).colour(), Look::nth(i).dash()))
            .collect();
        for (i, p) in pairs.iter().enumerate() {
            assert!(!pairs[..i].contains(p), "series {i} repeats {p:?}");
        }
    }

    #[test]
    fn the_legend_names_every_series_with_its_stroke() {
        let html = legend(&[
            (Look::nth(0), "p50", None),
            (Look::nth(1), "p99", Some("(12 samples)")),
        ]);
        assert_eq!(html.matches("<li>").count(), 2);
        assert!(html.contains(Look::nth(1).colour()) && html.contains(Look::nth(1).dash()));
        assert!(html.contains("(12 samples)"));
    }
}
