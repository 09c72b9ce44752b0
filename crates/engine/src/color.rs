//! The DTCG Color module: colour values in any of the 14 DTCG colour spaces, read from colour
//! objects (`{colorSpace, components, alpha, hex}`), hex strings and CSS colour functions, and
//! converted for output (hex, `rgb()`, `hsl()`, `oklch()`, `color(display-p3 …)` and the
//! component form native platforms need).
//!
//! Every conversion goes through CIE XYZ (D65); D50 spaces (Lab, LCH, ProPhoto, XYZ-D50) are
//! adapted with the Bradford transform. RGB matrices are derived from each space's primaries and
//! white point, so no magic tables can drift out of sync. Out-of-gamut colours are mapped into
//! sRGB/P3 with the CSS Color 4 algorithm (reduce OKLCH chroma until the clipped colour is within
//! a just-noticeable difference).

use std::fmt::{self, Write};
use std::str::FromStr;

use serde_json::{Map, Value};

/// A DTCG colour space.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ColorSpace {
    Srgb,
    SrgbLinear,
    Hsl,
    Hwb,
    Lab,
    Lch,
    Oklab,
    Oklch,
    DisplayP3,
    A98Rgb,
    ProphotoRgb,
    Rec2020,
    XyzD65,
    XyzD50,
}

impl ColorSpace {
    pub const ALL: [ColorSpace; 14] = [
        ColorSpace::Srgb,
        ColorSpace::SrgbLinear,
        ColorSpace::Hsl,
        ColorSpace::Hwb,
        ColorSpace::Lab,
        ColorSpace::Lch,
        ColorSpace::Oklab,
        ColorSpace::Oklch,
        ColorSpace::DisplayP3,
        ColorSpace::A98Rgb,
        ColorSpace::ProphotoRgb,
        ColorSpace::Rec2020,
        ColorSpace::XyzD65,
        ColorSpace::XyzD50,
    ];

    /// The DTCG (and CSS) name.
    pub fn as_str(self) -> &'static str {
        match self {
            ColorSpace::Srgb => "srgb",
            ColorSpace::SrgbLinear => "srgb-linear",
            ColorSpace::Hsl => "hsl",
            ColorSpace::Hwb => "hwb",
            ColorSpace::Lab => "lab",
            ColorSpace::Lch => "lch",
            ColorSpace::Oklab => "oklab",
            ColorSpace::Oklch => "oklch",
            ColorSpace::DisplayP3 => "display-p3",
            ColorSpace::A98Rgb => "a98-rgb",
            ColorSpace::ProphotoRgb => "prophoto-rgb",
            ColorSpace::Rec2020 => "rec2020",
            ColorSpace::XyzD65 => "xyz-d65",
            ColorSpace::XyzD50 => "xyz-d50",
        }
    }

    /// Which component (if any) is a hue angle in degrees.
    pub(crate) fn hue_index(self) -> Option<usize> {
        match self {
            ColorSpace::Hsl | ColorSpace::Hwb => Some(0),
            ColorSpace::Lch | ColorSpace::Oklch => Some(2),
            _ => None,
        }
    }

    /// The valid range of each component per the DTCG Color module (`None` = unbounded).
    pub(crate) fn ranges(self) -> [Option<(f64, f64)>; 3] {
        let unit = Some((0.0, 1.0));
        let hue = Some((0.0, 360.0));
        let pct = Some((0.0, 100.0));
        match self {
            ColorSpace::Srgb
            | ColorSpace::SrgbLinear
            | ColorSpace::DisplayP3
            | ColorSpace::A98Rgb
            | ColorSpace::ProphotoRgb
            | ColorSpace::Rec2020 => [unit, unit, unit],
            ColorSpace::Hsl | ColorSpace::Hwb => [hue, pct, pct],
            ColorSpace::Lab => [pct, None, None],
            ColorSpace::Lch => [pct, Some((0.0, f64::INFINITY)), hue],
            ColorSpace::Oklab => [unit, None, None],
            ColorSpace::Oklch => [unit, Some((0.0, f64::INFINITY)), hue],
            ColorSpace::XyzD65 | ColorSpace::XyzD50 => [None, None, None],
        }
    }
}

impl fmt::Display for ColorSpace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ColorSpace {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, ()> {
        ColorSpace::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or(())
    }
}

/// A colour: a space, three components (`NaN` stands for CSS `none`) and alpha in 0..=1.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Color {
    pub space: ColorSpace,
    pub components: [f64; 3],
    pub alpha: f64,
}

/// How colours are written by the CSS-like formats (css, scss, less, js).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ColorFormat {
    /// As written in the token (hex strings stay hex, colour objects use their space).
    #[default]
    Auto,
    /// `#rrggbb` / `#rrggbbaa`, gamut-mapped into sRGB.
    Hex,
    /// `rgb(r g b / a)`, gamut-mapped into sRGB.
    Rgb,
    /// `hsl(h s% l% / a)`, gamut-mapped into sRGB.
    Hsl,
    /// `oklch(l c h / a)`: every colour, wide gamut kept.
    Oklch,
    /// `color(display-p3 r g b / a)`, gamut-mapped into Display P3.
    DisplayP3,
}

impl ColorFormat {
    pub const ALL: [ColorFormat; 6] = [
        ColorFormat::Auto,
        ColorFormat::Hex,
        ColorFormat::Rgb,
        ColorFormat::Hsl,
        ColorFormat::Oklch,
        ColorFormat::DisplayP3,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ColorFormat::Auto => "auto",
            ColorFormat::Hex => "hex",
            ColorFormat::Rgb => "rgb",
            ColorFormat::Hsl => "hsl",
            ColorFormat::Oklch => "oklch",
            ColorFormat::DisplayP3 => "display-p3",
        }
    }
}

impl FromStr for ColorFormat {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        ColorFormat::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| {
                format!(
                    "unknown colour format {s:?}; use one of {}",
                    ColorFormat::ALL.map(ColorFormat::as_str).join(", ")
                )
            })
    }
}

type Mat = [[f64; 3]; 3];

fn mul(m: &Mat, v: [f64; 3]) -> [f64; 3] {
    [
        m[0][0] * v[0] + m[0][1] * v[1] + m[0][2] * v[2],
        m[1][0] * v[0] + m[1][1] * v[1] + m[1][2] * v[2],
        m[2][0] * v[0] + m[2][1] * v[1] + m[2][2] * v[2],
    ]
}

fn mat_mul(a: &Mat, b: &Mat) -> Mat {
    let mut out = [[0.0; 3]; 3];
    for (i, row) in out.iter_mut().enumerate() {
        for (j, cell) in row.iter_mut().enumerate() {
            *cell = (0..3).map(|k| a[i][k] * b[k][j]).sum();
        }
    }
    out
}

fn invert(m: &Mat) -> Mat {
    let [[a, b, c], [d, e, f], [g, h, i]] = *m;
    let det = a * (e * i - f * h) - b * (d * i - f * g) + c * (d * h - e * g);
    [
        [
            (e * i - f * h) / det,
            (c * h - b * i) / det,
            (b * f - c * e) / det,
        ],
        [
            (f * g - d * i) / det,
            (a * i - c * g) / det,
            (c * d - a * f) / det,
        ],
        [
            (d * h - e * g) / det,
            (b * g - a * h) / det,
            (a * e - b * d) / det,
        ],
    ]
}

/// XYZ of a white point given as CIE xy chromaticity (Y = 1).
fn white(x: f64, y: f64) -> [f64; 3] {
    [x / y, 1.0, (1.0 - x - y) / y]
}

const D65: (f64, f64) = (0.3127, 0.3290);
const D50: (f64, f64) = (0.3457, 0.3585);

/// The linear-RGB → XYZ matrix of a space with these primaries and white point.
fn rgb_to_xyz(primaries: [(f64, f64); 3], wp: (f64, f64)) -> Mat {
    let cols: Vec<[f64; 3]> = primaries.iter().map(|&(x, y)| white(x, y)).collect();
    let m = [
        [cols[0][0], cols[1][0], cols[2][0]],
        [cols[0][1], cols[1][1], cols[2][1]],
        [cols[0][2], cols[1][2], cols[2][2]],
    ];
    let s = mul(&invert(&m), white(wp.0, wp.1));
    [
        [m[0][0] * s[0], m[0][1] * s[1], m[0][2] * s[2]],
        [m[1][0] * s[0], m[1][1] * s[1], m[1][2] * s[2]],
        [m[2][0] * s[0], m[2][1] * s[1], m[2][2] * s[2]],
    ]
}

const SRGB_PRIMARIES: [(f64, f64); 3] = [(0.64, 0.33), (0.30, 0.60), (0.15, 0.06)];
const P3_PRIMARIES: [(f64, f64); 3] = [(0.680, 0.320), (0.265, 0.690), (0.150, 0.060)];
const A98_PRIMARIES: [(f64, f64); 3] = [(0.64, 0.33), (0.21, 0.71), (0.15, 0.06)];
const REC2020_PRIMARIES: [(f64, f64); 3] = [(0.708, 0.292), (0.170, 0.797), (0.131, 0.046)];
const PROPHOTO_PRIMARIES: [(f64, f64); 3] = [
    (0.734699, 0.265301),
    (0.159597, 0.840403),
    (0.036598, 0.000105),
];

const BRADFORD: Mat = [
    [0.8951, 0.2664, -0.1614],
    [-0.7502, 1.7135, 0.0367],
    [0.0389, -0.0685, 1.0296],
];

/// Chromatic adaptation from white point `from` to `to` (Bradford).
fn adapt(from: (f64, f64), to: (f64, f64)) -> Mat {
    let s = mul(&BRADFORD, white(from.0, from.1));
    let d = mul(&BRADFORD, white(to.0, to.1));
    let scale = [
        [d[0] / s[0], 0.0, 0.0],
        [0.0, d[1] / s[1], 0.0],
        [0.0, 0.0, d[2] / s[2]],
    ];
    mat_mul(&invert(&BRADFORD), &mat_mul(&scale, &BRADFORD))
}

const OKLAB_M1: Mat = [
    [
        0.819_022_437_996_703,
        0.361_906_260_052_890_4,
        -0.128_873_781_520_987_9,
    ],
    [
        0.032_983_653_932_388_5,
        0.929_286_861_586_343_4,
        0.036_144_666_350_642_4,
    ],
    [
        0.048_177_189_359_624_2,
        0.264_239_531_752_730_8,
        0.633_547_828_469_430_9,
    ],
];
const OKLAB_M2: Mat = [
    [
        0.210_454_268_309_314,
        0.793_617_774_702_305_4,
        -0.004_072_043_011_619_3,
    ],
    [
        1.977_998_532_431_168_4,
        -2.428_592_242_048_58,
        0.450_593_709_617_411,
    ],
    [
        0.025_904_042_465_547_8,
        0.782_771_712_457_529_6,
        -0.808_675_754_923_077_4,
    ],
];

fn srgb_decode(c: f64) -> f64 {
    let a = c.abs();
    let v = if a <= 0.04045 {
        a / 12.92
    } else {
        ((a + 0.055) / 1.055).powf(2.4)
    };
    v.copysign(c)
}

fn srgb_encode(c: f64) -> f64 {
    let a = c.abs();
    let v = if a <= 0.003_130_8 {
        a * 12.92
    } else {
        1.055 * a.powf(1.0 / 2.4) - 0.055
    };
    v.copysign(c)
}

fn a98_decode(c: f64) -> f64 {
    c.abs().powf(563.0 / 256.0).copysign(c)
}

fn a98_encode(c: f64) -> f64 {
    c.abs().powf(256.0 / 563.0).copysign(c)
}

fn prophoto_decode(c: f64) -> f64 {
    let a = c.abs();
    let v = if a <= 16.0 / 512.0 {
        a / 16.0
    } else {
        a.powf(1.8)
    };
    v.copysign(c)
}

fn prophoto_encode(c: f64) -> f64 {
    let a = c.abs();
    let v = if a >= 1.0 / 512.0 {
        a.powf(1.0 / 1.8)
    } else {
        16.0 * a
    };
    v.copysign(c)
}

const REC_ALPHA: f64 = 1.099_296_826_809_44;
const REC_BETA: f64 = 0.018_053_968_510_807;

fn rec2020_decode(c: f64) -> f64 {
    let a = c.abs();
    let v = if a < REC_BETA * 4.5 {
        a / 4.5
    } else {
        ((a + REC_ALPHA - 1.0) / REC_ALPHA).powf(1.0 / 0.45)
    };
    v.copysign(c)
}

fn rec2020_encode(c: f64) -> f64 {
    let a = c.abs();
    let v = if a >= REC_BETA {
        REC_ALPHA * a.powf(0.45) - (REC_ALPHA - 1.0)
    } else {
        4.5 * a
    };
    v.copysign(c)
}

const LAB_EPSILON: f64 = 216.0 / 24389.0;
const LAB_KAPPA: f64 = 24389.0 / 27.0;

fn xyz50_to_lab(xyz: [f64; 3]) -> [f64; 3] {
    let w = white(D50.0, D50.1);
    let f = |t: f64| {
        if t > LAB_EPSILON {
            t.cbrt()
        } else {
            (LAB_KAPPA * t + 16.0) / 116.0
        }
    };
    let [fx, fy, fz] = [f(xyz[0] / w[0]), f(xyz[1] / w[1]), f(xyz[2] / w[2])];
    [116.0 * fy - 16.0, 500.0 * (fx - fy), 200.0 * (fy - fz)]
}

fn lab_to_xyz50(lab: [f64; 3]) -> [f64; 3] {
    let w = white(D50.0, D50.1);
    let fy = (lab[0] + 16.0) / 116.0;
    let fx = lab[1] / 500.0 + fy;
    let fz = fy - lab[2] / 200.0;
    let inv = |f: f64| {
        let cubed = f * f * f;
        if cubed > LAB_EPSILON {
            cubed
        } else {
            (116.0 * f - 16.0) / LAB_KAPPA
        }
    };
    let y = if lab[0] > LAB_KAPPA * LAB_EPSILON {
        fy * fy * fy
    } else {
        lab[0] / LAB_KAPPA
    };
    [inv(fx) * w[0], y * w[1], inv(fz) * w[2]]
}

fn to_polar(v: [f64; 3]) -> [f64; 3] {
    let c = (v[1] * v[1] + v[2] * v[2]).sqrt();
    let mut h = v[2].atan2(v[1]).to_degrees();
    if h < 0.0 {
        h += 360.0;
    }
    // Achromatic colours have no meaningful hue.
    if c < 1e-9 {
        h = 0.0;
    }
    [v[0], c, h]
}

fn from_polar(v: [f64; 3]) -> [f64; 3] {
    let h = v[2].to_radians();
    [v[0], v[1] * h.cos(), v[1] * h.sin()]
}

fn hsl_to_srgb([h, s, l]: [f64; 3]) -> [f64; 3] {
    let (s, l) = (s / 100.0, l / 100.0);
    let f = |n: f64| {
        let k = (n + h / 30.0).rem_euclid(12.0);
        let a = s * l.min(1.0 - l);
        l - a * (k - 3.0).min(9.0 - k).clamp(-1.0, 1.0)
    };
    [f(0.0), f(8.0), f(4.0)]
}

fn srgb_to_hsl([r, g, b]: [f64; 3]) -> [f64; 3] {
    let max = r.max(g).max(b);
    let min = r.min(g).min(b);
    let l = (max + min) / 2.0;
    let d = max - min;
    let mut h = 0.0;
    let mut s = 0.0;
    if d > 1e-12 {
        s = if l == 0.0 || l == 1.0 {
            0.0
        } else {
            (max - l) / l.min(1.0 - l)
        };
        h = if max == r {
            (g - b) / d + if g < b { 6.0 } else { 0.0 }
        } else if max == g {
            (b - r) / d + 2.0
        } else {
            (r - g) / d + 4.0
        };
        h *= 60.0;
    }
    [h, s * 100.0, l * 100.0]
}

fn hwb_to_srgb([h, w, b]: [f64; 3]) -> [f64; 3] {
    let (w, b) = (w / 100.0, b / 100.0);
    if w + b >= 1.0 {
        let gray = w / (w + b);
        return [gray; 3];
    }
    let rgb = hsl_to_srgb([h, 100.0, 50.0]);
    rgb.map(|c| c * (1.0 - w - b) + w)
}

fn srgb_to_hwb(rgb: [f64; 3]) -> [f64; 3] {
    let hsl = srgb_to_hsl(rgb);
    let w = rgb[0].min(rgb[1]).min(rgb[2]);
    let b = 1.0 - rgb[0].max(rgb[1]).max(rgb[2]);
    [hsl[0], w * 100.0, b * 100.0]
}

/// A transfer function between encoded and linear-light components.
type Transfer = fn(f64) -> f64;
/// An RGB space: primaries, white point, decode, encode.
type RgbSpace = ([(f64, f64); 3], (f64, f64), Transfer, Transfer);

fn rgb_space(space: ColorSpace) -> Option<RgbSpace> {
    let identity: Transfer = |c| c;
    Some(match space {
        ColorSpace::Srgb => (SRGB_PRIMARIES, D65, srgb_decode, srgb_encode),
        ColorSpace::SrgbLinear => (SRGB_PRIMARIES, D65, identity, identity),
        ColorSpace::DisplayP3 => (P3_PRIMARIES, D65, srgb_decode, srgb_encode),
        ColorSpace::A98Rgb => (A98_PRIMARIES, D65, a98_decode, a98_encode),
        ColorSpace::ProphotoRgb => (PROPHOTO_PRIMARIES, D50, prophoto_decode, prophoto_encode),
        ColorSpace::Rec2020 => (REC2020_PRIMARIES, D65, rec2020_decode, rec2020_encode),
        _ => return None,
    })
}

impl Color {
    pub fn new(space: ColorSpace, components: [f64; 3], alpha: f64) -> Color {
        Color {
            space,
            components,
            alpha,
        }
    }

    /// Reads a colour token value: a DTCG colour object, a hex string or a CSS colour function.
    /// `None` for anything else (aliases included).
    pub fn parse(value: &Value) -> Option<Color> {
        match value {
            Value::String(s) => Color::parse_str(s),
            Value::Object(o) => Color::from_object(o),
            _ => None,
        }
    }

    fn from_object(o: &Map<String, Value>) -> Option<Color> {
        let space: ColorSpace = o.get("colorSpace")?.as_str()?.parse().ok()?;
        let components = o.get("components")?.as_array()?;
        if components.len() != 3 {
            return None;
        }
        let mut c = [0.0; 3];
        for (slot, v) in c.iter_mut().zip(components) {
            *slot = match v {
                Value::Number(n) => n.as_f64()?,
                Value::String(s) if s == "none" => f64::NAN,
                _ => return None,
            };
        }
        let alpha = match o.get("alpha") {
            None => 1.0,
            Some(a) => a.as_f64()?,
        };
        Some(Color::new(space, c, alpha))
    }

    /// `#rgb`, `#rgba`, `#rrggbb`, `#rrggbbaa` or a CSS colour function.
    pub fn parse_str(s: &str) -> Option<Color> {
        let s = s.trim();
        if let Some(hex) = s.strip_prefix('#') {
            return Color::from_hex_digits(hex);
        }
        parse_function(s)
    }

    fn from_hex_digits(hex: &str) -> Option<Color> {
        if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let digit = |i: usize| u8::from_str_radix(&hex[i..=i], 16).ok().map(f64::from);
        let pair = |i: usize| u8::from_str_radix(&hex[i..i + 2], 16).ok().map(f64::from);
        let (rgb, alpha) = match hex.len() {
            3 | 4 => {
                let c = [digit(0)?, digit(1)?, digit(2)?].map(|d| d * 17.0 / 255.0);
                let a = if hex.len() == 4 {
                    digit(3)? * 17.0 / 255.0
                } else {
                    1.0
                };
                (c, a)
            }
            6 | 8 => {
                let c = [pair(0)?, pair(2)?, pair(4)?].map(|d| d / 255.0);
                let a = if hex.len() == 8 {
                    pair(6)? / 255.0
                } else {
                    1.0
                };
                (c, a)
            }
            _ => return None,
        };
        Some(Color::new(ColorSpace::Srgb, rgb, alpha))
    }

    /// Components with `none` read as 0, as CSS does when converting.
    fn filled(&self) -> [f64; 3] {
        self.components.map(|c| if c.is_nan() { 0.0 } else { c })
    }

    /// CIE XYZ relative to D65.
    pub fn to_xyz_d65(&self) -> [f64; 3] {
        let c = self.filled();
        match self.space {
            ColorSpace::XyzD65 => c,
            ColorSpace::XyzD50 => mul(&adapt(D50, D65), c),
            ColorSpace::Hsl => Color::new(ColorSpace::Srgb, hsl_to_srgb(c), 1.0).to_xyz_d65(),
            ColorSpace::Hwb => Color::new(ColorSpace::Srgb, hwb_to_srgb(c), 1.0).to_xyz_d65(),
            ColorSpace::Lab => mul(&adapt(D50, D65), lab_to_xyz50(c)),
            ColorSpace::Lch => mul(&adapt(D50, D65), lab_to_xyz50(from_polar(c))),
            ColorSpace::Oklab => oklab_to_xyz(c),
            ColorSpace::Oklch => oklab_to_xyz(from_polar(c)),
            rgb => {
                let Some((primaries, wp, decode, _)) = rgb_space(rgb) else {
                    return c;
                };
                let xyz = mul(&rgb_to_xyz(primaries, wp), c.map(decode));
                if wp == D50 {
                    mul(&adapt(D50, D65), xyz)
                } else {
                    xyz
                }
            }
        }
    }

    /// The same colour in `space` (no gamut mapping; see [`Color::to_gamut`]).
    pub fn convert(&self, space: ColorSpace) -> Color {
        if space == self.space {
            return *self;
        }
        let xyz = self.to_xyz_d65();
        let components = match space {
            ColorSpace::XyzD65 => xyz,
            ColorSpace::XyzD50 => mul(&adapt(D65, D50), xyz),
            ColorSpace::Hsl => srgb_to_hsl(Color::from_xyz(xyz, ColorSpace::Srgb)),
            ColorSpace::Hwb => srgb_to_hwb(Color::from_xyz(xyz, ColorSpace::Srgb)),
            ColorSpace::Lab => xyz50_to_lab(mul(&adapt(D65, D50), xyz)),
            ColorSpace::Lch => to_polar(xyz50_to_lab(mul(&adapt(D65, D50), xyz))),
            ColorSpace::Oklab => xyz_to_oklab(xyz),
            ColorSpace::Oklch => to_polar(xyz_to_oklab(xyz)),
            rgb => Color::from_xyz(xyz, rgb),
        };
        Color::new(space, components, self.alpha)
    }

    /// Encoded RGB components of an RGB space from XYZ-D65.
    fn from_xyz(xyz: [f64; 3], space: ColorSpace) -> [f64; 3] {
        let Some((primaries, wp, _, encode)) = rgb_space(space) else {
            return xyz;
        };
        let xyz = if wp == D50 {
            mul(&adapt(D65, D50), xyz)
        } else {
            xyz
        };
        mul(&invert(&rgb_to_xyz(primaries, wp)), xyz).map(encode)
    }

    /// Whether every component of this RGB-space colour is within 0..=1 (with float slack).
    fn in_unit_cube(&self) -> bool {
        self.components
            .iter()
            .all(|&c| (-1e-6..=1.0 + 1e-6).contains(&c))
    }

    /// This colour in the RGB space `space`, mapped into its gamut by reducing OKLCH chroma
    /// (CSS Color 4), so a wide-gamut colour keeps its lightness and hue.
    pub fn to_gamut(&self, space: ColorSpace) -> Color {
        let direct = self.convert(space);
        if rgb_space(space).is_none() || direct.in_unit_cube() {
            return clip(direct);
        }
        let lch = self.convert(ColorSpace::Oklch);
        let [l, _, h] = lch.filled();
        if l >= 1.0 {
            return Color::new(space, [1.0; 3], self.alpha);
        }
        if l <= 0.0 {
            return Color::new(space, [0.0; 3], self.alpha);
        }
        const JND: f64 = 0.02;
        let (mut low, mut high) = (0.0, lch.filled()[1]);
        let mut best = clip(direct);
        while high - low > 1e-4 {
            let chroma = (low + high) / 2.0;
            let candidate =
                Color::new(ColorSpace::Oklch, [l, chroma, h], self.alpha).convert(space);
            if candidate.in_unit_cube() {
                low = chroma;
                best = clip(candidate);
                continue;
            }
            let clipped = clip(candidate);
            if delta_eok(&clipped, &candidate) < JND {
                best = clipped;
                low = chroma;
            } else {
                high = chroma;
            }
        }
        best
    }

    /// `#rrggbb`, or `#rrggbbaa` when translucent; gamut-mapped into sRGB.
    pub fn to_hex(&self) -> String {
        let c = self.to_gamut(ColorSpace::Srgb);
        let byte = |v: f64| (v.clamp(0.0, 1.0) * 255.0).round() as u8;
        let [r, g, b] = c.components.map(byte);
        let mut out = format!("#{r:02x}{g:02x}{b:02x}");
        if self.alpha < 1.0 {
            let _ = write!(out, "{:02x}", byte(self.alpha));
        }
        out
    }

    /// sRGB components (0..=1, gamut-mapped) and alpha, for native platforms.
    pub fn to_srgb(&self) -> ([f64; 3], f64) {
        (
            self.to_gamut(ColorSpace::Srgb).components,
            self.alpha.clamp(0.0, 1.0),
        )
    }

    /// Whether this colour lies outside sRGB (so native output should use Display P3).
    pub fn is_wide_gamut(&self) -> bool {
        !self.convert(ColorSpace::Srgb).in_unit_cube()
    }

    /// The CSS text of this colour in `format` (`Auto` writes the colour's own space).
    pub fn to_css(&self, format: ColorFormat) -> String {
        let alpha = |out: &mut String| {
            if self.alpha < 1.0 {
                out.push_str(" / ");
                out.push_str(&num(self.alpha.clamp(0.0, 1.0), 4));
            }
        };
        let mut out = String::new();
        match format {
            ColorFormat::Hex => return self.to_hex(),
            ColorFormat::Rgb => {
                let c = self.to_gamut(ColorSpace::Srgb).components;
                let [r, g, b] = c.map(|v| num(v.clamp(0.0, 1.0) * 255.0, 2));
                let _ = write!(out, "rgb({r} {g} {b}");
                alpha(&mut out);
            }
            ColorFormat::Hsl => {
                let srgb = self.to_gamut(ColorSpace::Srgb).components;
                let [h, s, l] = srgb_to_hsl(srgb);
                let _ = write!(out, "hsl({} {}% {}%", num(h, 2), num(s, 2), num(l, 2));
                alpha(&mut out);
            }
            ColorFormat::Oklch => {
                let [l, c, h] = self.convert(ColorSpace::Oklch).filled();
                let _ = write!(out, "oklch({} {} {}", num(l, 4), num(c, 4), num(h, 2));
                alpha(&mut out);
            }
            ColorFormat::DisplayP3 => {
                let c = self.to_gamut(ColorSpace::DisplayP3).components;
                let [r, g, b] = c.map(|v| num(v, 4));
                let _ = write!(out, "color(display-p3 {r} {g} {b}");
                alpha(&mut out);
            }
            ColorFormat::Auto => {
                let parts = self.components.map(|c| {
                    if c.is_nan() {
                        "none".to_owned()
                    } else {
                        num(c, 6)
                    }
                });
                let [a, b, c] = &parts;
                match self.space {
                    ColorSpace::Hsl | ColorSpace::Hwb => {
                        let _ = write!(out, "{}({a} {b}% {c}%", self.space);
                    }
                    ColorSpace::Lab | ColorSpace::Lch | ColorSpace::Oklab | ColorSpace::Oklch => {
                        let _ = write!(out, "{}({a} {b} {c}", self.space);
                    }
                    space => {
                        let _ = write!(out, "color({space} {a} {b} {c}");
                    }
                }
                alpha(&mut out);
            }
        }
        out.push(')');
        out
    }

    /// The DTCG colour object of this colour (with a `hex` fallback when it is in sRGB).
    pub fn to_dtcg(&self) -> Value {
        let mut o = Map::new();
        o.insert("colorSpace".into(), Value::from(self.space.as_str()));
        let components: Vec<Value> = self
            .components
            .iter()
            .map(|&c| {
                if c.is_nan() {
                    Value::from("none")
                } else {
                    Value::from(round(c, 6))
                }
            })
            .collect();
        o.insert("components".into(), Value::Array(components));
        if self.alpha < 1.0 {
            o.insert("alpha".into(), Value::from(round(self.alpha, 6)));
        }
        if !self.is_wide_gamut() {
            o.insert("hex".into(), Value::from(self.to_hex()[..7].to_owned()));
        }
        Value::Object(o)
    }
}

fn xyz_to_oklab(xyz: [f64; 3]) -> [f64; 3] {
    let lms = mul(&OKLAB_M1, xyz).map(f64::cbrt);
    mul(&OKLAB_M2, lms)
}

fn oklab_to_xyz(lab: [f64; 3]) -> [f64; 3] {
    let lms = mul(&invert(&OKLAB_M2), lab).map(|c| c * c * c);
    mul(&invert(&OKLAB_M1), lms)
}

fn clip(c: Color) -> Color {
    if rgb_space(c.space).is_none() {
        return c;
    }
    Color::new(c.space, c.components.map(|v| v.clamp(0.0, 1.0)), c.alpha)
}

fn delta_eok(a: &Color, b: &Color) -> f64 {
    let x = a.convert(ColorSpace::Oklab).filled();
    let y = b.convert(ColorSpace::Oklab).filled();
    ((x[0] - y[0]).powi(2) + (x[1] - y[1]).powi(2) + (x[2] - y[2]).powi(2)).sqrt()
}

fn round(v: f64, places: i32) -> f64 {
    let p = 10f64.powi(places);
    let r = (v * p).round() / p;
    if r == 0.0 { 0.0 } else { r }
}

/// A number rounded to `places` decimals, without trailing zeros or exponent.
pub(crate) fn num(v: f64, places: i32) -> String {
    let r = round(v, places);
    let mut s = format!("{r:.*}", places.max(0) as usize);
    if s.contains('.') {
        while s.ends_with('0') {
            s.pop();
        }
        if s.ends_with('.') {
            s.pop();
        }
    }
    s
}

/// One argument of a CSS colour function.
#[derive(Clone, Copy)]
enum Arg {
    Number(f64),
    Percent(f64),
    None,
}

fn parse_arg(token: &str) -> Option<Arg> {
    if token.eq_ignore_ascii_case("none") {
        return Some(Arg::None);
    }
    if let Some(p) = token.strip_suffix('%') {
        return p
            .parse()
            .ok()
            .filter(|v: &f64| v.is_finite())
            .map(Arg::Percent);
    }
    for (unit, factor) in [
        ("deg", 1.0),
        ("grad", 0.9),
        ("rad", 180.0 / std::f64::consts::PI),
        ("turn", 360.0),
    ] {
        if let Some(n) = token.strip_suffix(unit) {
            return n
                .parse::<f64>()
                .ok()
                .filter(|v| v.is_finite())
                .map(|v| Arg::Number(v * factor));
        }
    }
    token
        .parse()
        .ok()
        .filter(|v: &f64| v.is_finite())
        .map(Arg::Number)
}

/// `rgb()`, `rgba()`, `hsl()`, `hsla()`, `hwb()`, `lab()`, `lch()`, `oklab()`, `oklch()` and
/// `color(space …)`, in modern (space-separated, `/ alpha`) or legacy (comma) syntax.
fn parse_function(s: &str) -> Option<Color> {
    let (name, rest) = s.split_once('(')?;
    let body = rest.strip_suffix(')')?;
    let name = name.trim().to_ascii_lowercase();
    let (main, alpha) = match body.split_once('/') {
        Some((m, a)) => (m, Some(a.trim())),
        None => (body, None),
    };
    let mut tokens: Vec<&str> = main
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|t| !t.is_empty())
        .collect();
    let space = if name == "color" {
        let space: ColorSpace = tokens.first()?.parse().ok()?;
        if space.hue_index().is_some()
            || matches!(
                space,
                ColorSpace::Lab | ColorSpace::Oklab | ColorSpace::Lch | ColorSpace::Oklch
            )
        {
            return None;
        }
        tokens.remove(0);
        space
    } else {
        match name.as_str() {
            "rgb" | "rgba" => ColorSpace::Srgb,
            "hsl" | "hsla" => ColorSpace::Hsl,
            "hwb" => ColorSpace::Hwb,
            "lab" => ColorSpace::Lab,
            "lch" => ColorSpace::Lch,
            "oklab" => ColorSpace::Oklab,
            "oklch" => ColorSpace::Oklch,
            _ => return None,
        }
    };
    // Legacy syntax puts alpha as a fourth comma-separated argument.
    let mut alpha_token = alpha;
    if alpha_token.is_none() && tokens.len() == 4 {
        alpha_token = tokens.pop();
    }
    if tokens.len() != 3 {
        return None;
    }
    let mut components = [0.0; 3];
    for (i, token) in tokens.iter().enumerate() {
        components[i] = match parse_arg(token)? {
            Arg::None => f64::NAN,
            Arg::Number(n) => match space {
                ColorSpace::Srgb if name != "color" => n / 255.0,
                _ => n,
            },
            Arg::Percent(p) => percent(space, i, p, name == "color"),
        };
    }
    let alpha = match alpha_token {
        None => 1.0,
        Some(a) => match parse_arg(a)? {
            Arg::Number(n) => n,
            Arg::Percent(p) => p / 100.0,
            Arg::None => 0.0,
        },
    };
    Some(Color::new(space, components, alpha.clamp(0.0, 1.0)))
}

/// What a percentage means for component `i` of `space` (CSS Color 4 reference ranges).
fn percent(space: ColorSpace, i: usize, p: f64, in_color_fn: bool) -> f64 {
    if in_color_fn {
        return p / 100.0;
    }
    match (space, i) {
        (ColorSpace::Srgb, _) => p / 100.0,
        (ColorSpace::Hsl | ColorSpace::Hwb, _) => p,
        (ColorSpace::Lab | ColorSpace::Lch, 0) => p,
        (ColorSpace::Lab, _) => p * 1.25,
        (ColorSpace::Lch, 1) => p * 1.5,
        (ColorSpace::Oklab | ColorSpace::Oklch, 0) => p / 100.0,
        (ColorSpace::Oklab, _) => p * 0.004,
        (ColorSpace::Oklch, 1) => p * 0.004,
        _ => p,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn close(a: [f64; 3], b: [f64; 3], tol: f64) -> bool {
        a.iter().zip(b).all(|(x, y)| (x - y).abs() <= tol)
    }

    #[test]
    fn hex_forms() {
        let c = Color::parse_str("#6d28d9").unwrap();
        assert_eq!(c.space, ColorSpace::Srgb);
        assert_eq!(c.to_hex(), "#6d28d9");
        assert_eq!(Color::parse_str("#f00").unwrap().to_hex(), "#ff0000");
        assert_eq!(Color::parse_str("#f008").unwrap().to_hex(), "#ff000088");
        assert_eq!(Color::parse_str("#FF000080").unwrap().to_hex(), "#ff000080");
        assert!(Color::parse_str("#ff00").is_some());
        assert!(Color::parse_str("#ff0").is_some());
        assert!(Color::parse_str("#ggg").is_none());
        assert!(Color::parse_str("#12345").is_none());
    }

    #[test]
    fn oklch_of_srgb_red_matches_the_reference() {
        let red = Color::parse_str("#ff0000").unwrap();
        let [l, c, h] = red.convert(ColorSpace::Oklch).components;
        assert!(
            close([l, c, h], [0.627_955, 0.257_683, 29.233_9], 1e-3),
            "{l} {c} {h}"
        );
        let white = Color::parse_str("#ffffff")
            .unwrap()
            .convert(ColorSpace::Oklab);
        assert!(close(white.components, [1.0, 0.0, 0.0], 1e-4), "{white:?}");
    }

    #[test]
    fn lab_of_srgb_red_matches_the_reference() {
        let red = Color::parse_str("#ff0000").unwrap();
        let lab = red.convert(ColorSpace::Lab).components;
        assert!(close(lab, [54.29, 80.8, 69.89], 0.1), "{lab:?}");
    }

    #[test]
    fn round_trips_through_every_space() {
        let original = Color::parse_str("#6d28d9").unwrap();
        for space in ColorSpace::ALL {
            let there = original.convert(space);
            let back = there.convert(ColorSpace::Srgb);
            assert!(
                close(back.components, original.components, 1e-6),
                "{space}: {back:?}"
            );
            assert_eq!(there.to_hex(), "#6d28d9", "{space}");
        }
    }

    #[test]
    fn display_p3_red_is_wide_gamut_and_maps_into_srgb() {
        let p3 =
            Color::parse(&json!({"colorSpace": "display-p3", "components": [1, 0, 0]})).unwrap();
        assert!(p3.is_wide_gamut());
        let srgb = p3.to_gamut(ColorSpace::Srgb);
        assert!(srgb.components.iter().all(|c| (0.0..=1.0).contains(c)));
        // CSS Color 4 mapping keeps P3 red's (higher) lightness: a slightly lighter pure red.
        let hex = p3.to_hex();
        assert!(hex.starts_with("#ff0") && hex[5..7] < *"20", "{hex}");
        let back = Color::parse_str("#ff0000")
            .unwrap()
            .convert(ColorSpace::DisplayP3);
        assert!(
            close(back.components, [0.9175, 0.2003, 0.1386], 1e-3),
            "{back:?}"
        );
    }

    #[test]
    fn css_functions() {
        let cases = [
            ("rgb(255 0 0)", "#ff0000"),
            ("rgb(255, 0, 0)", "#ff0000"),
            ("rgba(255, 0, 0, 0.5)", "#ff000080"),
            ("rgb(100% 0% 0% / 50%)", "#ff000080"),
            ("hsl(120 100% 50%)", "#00ff00"),
            ("hsl(120deg, 100%, 25%)", "#008000"),
            ("hwb(240 0% 0%)", "#0000ff"),
            ("oklch(62.8% 0.2577 29.23)", "#ff0000"),
            ("oklch(0.628 0.2577 29.23)", "#ff0000"),
            ("lab(54.29 80.8 69.89)", "#ff0000"),
            ("color(srgb 1 0 0)", "#ff0000"),
            ("color(display-p3 0.9175 0.2003 0.1386)", "#ff0000"),
        ];
        for (css, hex) in cases {
            let c = Color::parse_str(css).unwrap_or_else(|| panic!("{css}"));
            assert_eq!(c.to_hex(), hex, "{css}");
        }
        let none = Color::parse_str("oklch(0.5 0.2 none)").unwrap();
        assert!(none.components[2].is_nan());
        assert_eq!(
            none.to_hex(),
            Color::parse_str("oklch(0.5 0.2 0)").unwrap().to_hex()
        );
        for bad in [
            "rgb(1 2)",
            "foo(1 2 3)",
            "rgb(a b c)",
            "color(oklch 1 2 3)",
            "rgb(1 2 3",
        ] {
            assert!(Color::parse_str(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn css_output_formats() {
        let c = Color::parse_str("#6d28d9").unwrap();
        assert_eq!(c.to_css(ColorFormat::Hex), "#6d28d9");
        assert_eq!(c.to_css(ColorFormat::Rgb), "rgb(109 40 217)");
        assert_eq!(c.to_css(ColorFormat::Hsl), "hsl(263.39 69.96% 50.39%)");
        assert_eq!(c.to_css(ColorFormat::Oklch), "oklch(0.4907 0.2412 292.58)");
        assert_eq!(
            c.to_css(ColorFormat::DisplayP3),
            "color(display-p3 0.3952 0.1741 0.8187)"
        );
        let translucent = Color::new(ColorSpace::Srgb, [1.0, 0.0, 0.0], 0.5);
        assert_eq!(translucent.to_css(ColorFormat::Rgb), "rgb(255 0 0 / 0.5)");
        assert_eq!(
            translucent.to_css(ColorFormat::Auto),
            "color(srgb 1 0 0 / 0.5)"
        );
        let lch = Color::new(ColorSpace::Oklch, [0.5, 0.2, f64::NAN], 1.0);
        assert_eq!(lch.to_css(ColorFormat::Auto), "oklch(0.5 0.2 none)");
    }

    #[test]
    fn dtcg_objects() {
        let c = Color::parse_str("#ff0000").unwrap();
        assert_eq!(
            c.to_dtcg(),
            json!({"colorSpace": "srgb", "components": [1.0, 0.0, 0.0], "hex": "#ff0000"})
        );
        let p3 = Color::new(ColorSpace::DisplayP3, [1.0, 0.0, 0.0], 0.5);
        assert_eq!(
            p3.to_dtcg(),
            json!({"colorSpace": "display-p3", "components": [1.0, 0.0, 0.0], "alpha": 0.5})
        );
        assert!(Color::parse(&json!({"colorSpace": "srgb", "components": [1, 0]})).is_none());
        assert!(Color::parse(&json!({"colorSpace": "cmyk", "components": [1, 0, 0]})).is_none());
        assert!(Color::parse(&json!("{color.red}")).is_none());
    }

    #[test]
    fn format_names() {
        for f in ColorFormat::ALL {
            assert_eq!(f.as_str().parse::<ColorFormat>().unwrap(), f);
            assert_eq!(serde_json::to_value(f).unwrap(), f.as_str());
        }
        assert!(
            "cmyk"
                .parse::<ColorFormat>()
                .unwrap_err()
                .contains("use one of auto, hex")
        );
    }
}
