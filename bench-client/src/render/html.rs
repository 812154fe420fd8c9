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

/// The page's style sheet: full-width charts, readable type, the tables, the
/// better/worse colours (blue and orange: apart for colour-blind readers too).
pub(super) const STYLE: &str = "body{font-family:sans-serif;margin:1.5em 2em;color:#222;\
font-size:16px;line-height:1.4}\
h1{font-size:1.7em;margin:.2em 0 .6em}h2{margin:1.4em 0 .4em}\
table{border-collapse:collapse;margin:.8em 0}\
table.matrix,table.comparison,table.overhead,table.curve{font-size:92%}\
th,td{border:1px solid #bbb;padding:4px 8px;text-align:right}td{white-space:nowrap}\
th:first-child,td:first-child{text-align:left}\
tr.stall td{background:#fde2e2}\
td.better{background:#d9ecf9}td.worse{background:#fde3cc}\
.ratio{color:#444;font-size:90%;white-space:nowrap}\
dl.settings{display:flex;flex-wrap:wrap;gap:.25em 1.8em;font-size:92%;margin:.6em 0;\
padding:.5em .8em;background:#f4f4f4;border-radius:4px}\
dl.settings div{display:flex;gap:.45em}dl.settings dt{color:#666}\
dl.settings dd{margin:0}\
div.legs{display:flex;gap:2em;flex-wrap:wrap}\
section.run{border-top:2px solid #ddd;margin-top:1.5em}\
figure{margin:1em 0;width:100%}figure>svg{display:block;width:100%;height:auto}\
ul.legend{list-style:none;padding:0;margin:.2em 0 0 110px;font-size:95%}\
ul.legend li{display:inline-block;margin:0 1.6em .2em 0;white-space:nowrap}\
svg.swatch{display:inline-block;width:44px;height:12px;margin-right:6px;\
vertical-align:middle}\
p.empty{font-size:1.15em;font-weight:bold;color:#a33;margin:1em 0}\
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

/// Closes the page `page_head` opened.
pub(super) fn page_end(out: &mut String) {
    out.push_str("</body>\n</html>\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_covers_markup_characters() {
        assert_eq!(escape("a<b>&\"'"), "a&lt;b&gt;&amp;&quot;&#39;");
    }
}
