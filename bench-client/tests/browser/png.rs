//! Just enough PNG for the browser test: the 8-bit RGB and RGBA images Chromium writes
//! (not interlaced), decoded with flate2 and the five scanline filters of the PNG
//! specification, and what the test asks of a screenshot (distinct colours, ink).

use std::io::Read as _;

/// A decoded 8-bit RGB or RGBA image, as RGB pixels.
pub struct Image {
    /// Pixels across.
    pub width: u32,
    /// Pixels down.
    pub height: u32,
    /// Row by row.
    pub rgb: Vec<[u8; 3]>,
}

/// Decodes the PNGs Chromium writes (8-bit RGB or RGBA, not interlaced), with
/// flate2 and the five scanline filters of the PNG specification.
pub fn decode_png(bytes: &[u8]) -> Image {
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "not a PNG");
    let (mut at, mut header, mut data) = (8, None, Vec::new());
    while at + 8 <= bytes.len() {
        let len = u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
        let kind = &bytes[at + 4..at + 8];
        let body = &bytes[at + 8..at + 8 + len];
        match kind {
            b"IHDR" => header = Some(body.to_vec()),
            b"IDAT" => data.extend_from_slice(body),
            _ => {}
        }
        at += 12 + len;
    }
    let header = header.expect("an IHDR chunk");
    let width = u32::from_be_bytes(header[0..4].try_into().unwrap());
    let height = u32::from_be_bytes(header[4..8].try_into().unwrap());
    let (depth, colour, interlace) = (header[8], header[9], header[12]);
    let channels = match colour {
        2 => 3,
        6 => 4,
        other => panic!("PNG colour type {other}: only RGB (2) and RGBA (6) are read"),
    };
    assert!(
        depth == 8 && interlace == 0,
        "depth {depth}, interlace {interlace}"
    );
    let mut raw = Vec::new();
    flate2::read::ZlibDecoder::new(&data[..])
        .read_to_end(&mut raw)
        .unwrap();
    let stride = width as usize * channels;
    assert_eq!(
        raw.len(),
        (stride + 1) * height as usize,
        "image data length"
    );
    let mut pixels = vec![0u8; stride * height as usize];
    for y in 0..height as usize {
        let filter = raw[y * (stride + 1)];
        let line = &raw[y * (stride + 1) + 1..(y + 1) * (stride + 1)];
        for x in 0..stride {
            let a = if x >= channels {
                pixels[y * stride + x - channels]
            } else {
                0
            };
            let b = if y > 0 {
                pixels[(y - 1) * stride + x]
            } else {
                0
            };
            let c = if x >= channels && y > 0 {
                pixels[(y - 1) * stride + x - channels]
            } else {
                0
            };
            let predicted = match filter {
                0 => 0,
                1 => a,
                2 => b,
                3 => ((a as u16 + b as u16) / 2) as u8,
                4 => paeth(a, b, c),
                other => panic!("PNG filter {other}"),
            };
            pixels[y * stride + x] = line[x].wrapping_add(predicted);
        }
    }
    let rgb = pixels
        .chunks(channels)
        .map(|p| [p[0], p[1], p[2]])
        .collect();
    Image { width, height, rgb }
}

fn paeth(a: u8, b: u8, c: u8) -> u8 {
    let p = a as i16 + b as i16 - c as i16;
    let (pa, pb, pc) = (
        (p - a as i16).abs(),
        (p - b as i16).abs(),
        (p - c as i16).abs(),
    );
    if pa <= pb && pa <= pc {
        a
    } else if pb <= pc {
        b
    } else {
        c
    }
}

/// Distinct colours and the share of pixels that are not white.
pub fn ink(image: &Image) -> (usize, f64) {
    let colours: std::collections::HashSet<[u8; 3]> = image.rgb.iter().copied().collect();
    let inked = image.rgb.iter().filter(|p| **p != [255, 255, 255]).count();
    (colours.len(), inked as f64 / image.rgb.len() as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_png_reader_sees_colours_and_ink() {
        // A 2x1 RGB image, filter 1 (Sub) on its row: white, then white + (0, -255, -255) = red.
        let raw = [1u8, 255, 255, 255, 0, 1, 1];
        let mut zlib = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut zlib, &raw).unwrap();
        let idat = zlib.finish().unwrap();
        let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
        let mut chunk = |kind: &[u8], body: &[u8]| {
            png.extend_from_slice(&(body.len() as u32).to_be_bytes());
            png.extend_from_slice(kind);
            png.extend_from_slice(body);
            png.extend_from_slice(&[0; 4]); // the CRC is not checked
        };
        chunk(b"IHDR", &[0, 0, 0, 2, 0, 0, 0, 1, 8, 2, 0, 0, 0]);
        chunk(b"IDAT", &idat);
        chunk(b"IEND", &[]);
        let image = decode_png(&png);
        assert_eq!(image.rgb, [[255, 255, 255], [255, 0, 0]]);
        assert_eq!(ink(&image), (2, 0.5));
    }
}
