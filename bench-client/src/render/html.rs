//! The HTML around the charts: escaping, the style sheet, the page head and a figure.
//! A leaf of `render`.

use std::fmt::Write as _;

/// Escapes text for HTML/XML content and attribute values; control characters (which
/// XML does not allow) become spaces.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            c if c.is_control() => out.push(' '),
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

pub(super) const STYLE: &str = "body{font-family:sans-serif;margin:2em;color:#222}\
table{border-collapse:collapse;margin:1em 0}\
th,td{border:1px solid #bbb;padding:4px 8px;text-align:right}\
th:first-child,td:first-child{text-align:left}\
tr.stall td{background:#fde2e2}\
figure{margin:1em 0}\
ul.legend{list-style:none;padding:0;margin:0 0 0 90px;font-size:90%}\
ul.legend li{display:inline-block;margin-right:1.5em}\
.swatch{display:inline-block;width:18px;height:4px;margin-right:6px;vertical-align:middle}\
.note{color:#555}";

pub(super) fn figure(out: &mut String, kind: &str, run: Option<&str>, svg: &str) {
    let _ = write!(out, "<figure class=\"chart\" data-chart=\"{kind}\"");
    if let Some(run) = run {
        let _ = write!(out, " data-run=\"{}\"", escape(run));
    }
    out.push('>');
    out.push_str(svg);
    out.push_str("</figure>\n");
}

pub(super) fn page_head(out: &mut String, title: &str) {
    let title = escape(title);
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html xmlns=\"http://www.w3.org/1999/xhtml\" lang=\"en\">\n<head>\
         <meta charset=\"utf-8\"/><title>{title}</title><style>{STYLE}</style></head>\n\
         <body>\n<h1>{title}</h1>\n"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_covers_markup_characters() {
        assert_eq!(escape("a<b>&\"'"), "a&lt;b&gt;&amp;&quot;&#39;");
    }
}
