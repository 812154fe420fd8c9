#!/usr/bin/env bash
# Makes the README's screenshots: runs the default `bench-client suite` and `nagle`
# with short durations into a temporary folder, opens each report.html in headless
# Chromium and writes docs/img/suite.png and docs/img/nagle.png (1400 px wide, the top
# of the page: the matrix table, the spectrum and the first run's charts).
#
#   scripts/screenshots.sh              # SUITE_DURATION=5s NAGLE_DURATION=2s PROFILE=dev
#   CHROMIUM=/path/to/chrome scripts/screenshots.sh
#
# Needs Chromium (Debian: apt-get install chromium). The figures on the pictures are
# whatever this machine measured; only the pages' look is the point.
set -euo pipefail

cd "$(dirname "$0")/.."
chromium=${CHROMIUM:-chromium}
command -v "$chromium" >/dev/null || {
    echo "screenshots.sh: $chromium not found (apt-get install chromium, or set CHROMIUM)" >&2
    exit 1
}
suite_duration=${SUITE_DURATION:-5s}
nagle_duration=${NAGLE_DURATION:-2s}
width=1400

# The page's look does not depend on the build; PROFILE=release for release figures.
profile=${PROFILE:-dev}
cargo build -q --profile "$profile" -p bench-client --bin bench-client
bin=target/$([ "$profile" = dev ] && echo debug || echo "$profile")/bench-client
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p docs/img

# shoot NAME HEIGHT: the one folder under $work/NAME, its report.html to docs/img/NAME.png.
shoot() {
    local name=$1 height=$2 dir
    dir=$(find "$work/$name" -mindepth 1 -maxdepth 1 -type d | head -n 1)
    "$chromium" --headless --no-sandbox --disable-gpu --hide-scrollbars \
        --user-data-dir="$work/profile" --window-size="$width,$height" \
        --screenshot="docs/img/$name.png" "file://$(realpath "$dir/report.html")" \
        >/dev/null 2>&1
    echo "docs/img/$name.png: $(wc -c <"docs/img/$name.png") bytes, from $dir/report.html"
}

"$bin" suite --duration "$suite_duration" --warmup 500ms --out-dir "$work/suite" >/dev/null
shoot suite 1830
"$bin" nagle --duration "$nagle_duration" --warmup 300ms --out-dir "$work/nagle" >/dev/null
shoot nagle 1830
