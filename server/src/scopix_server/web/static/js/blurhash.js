// BlurHash decoding (the placeholder painted until a thumbnail loads). The format: a size
// flag, a maximum AC value, a DC colour and quantised AC components, all in base 83.

const DIGITS =
  "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz#$%*+,-.:;=?@[]^_{|}~";

function base83(text) {
  let value = 0;
  for (const char of text) {
    const digit = DIGITS.indexOf(char);
    if (digit < 0) throw new Error("not a BlurHash");
    value = value * 83 + digit;
  }
  return value;
}

function toLinear(channel) {
  const v = channel / 255;
  return v <= 0.04045 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
}

function toSrgb(value) {
  const v = Math.min(1, Math.max(0, value));
  const s = v <= 0.0031308 ? v * 12.92 : 1.055 * v ** (1 / 2.4) - 0.055;
  return Math.round(s * 255);
}

function signedPow(value, exponent) {
  return Math.sign(value) * Math.abs(value) ** exponent;
}

/** The colours of ``hash`` as RGBA bytes of a ``width`` x ``height`` picture. */
export function decode(hash, width, height) {
  if (typeof hash !== "string" || hash.length < 6) throw new Error("not a BlurHash");
  const flag = base83(hash[0]);
  const nx = (flag % 9) + 1;
  const ny = Math.floor(flag / 9) + 1;
  if (hash.length !== 4 + 2 * nx * ny) throw new Error("not a BlurHash");
  const maximum = (base83(hash[1]) + 1) / 166;
  const colours = [];
  const dc = base83(hash.slice(2, 6));
  colours.push([toLinear(dc >> 16), toLinear((dc >> 8) & 255), toLinear(dc & 255)]);
  for (let i = 1; i < nx * ny; i += 1) {
    const ac = base83(hash.slice(4 + i * 2, 6 + i * 2));
    colours.push(
      [Math.floor(ac / 361), Math.floor(ac / 19) % 19, ac % 19].map(
        (q) => signedPow((q - 9) / 9, 2) * maximum,
      ),
    );
  }
  const pixels = new Uint8ClampedArray(width * height * 4);
  const cosX = (x, i) => Math.cos((Math.PI * x * i) / width);
  const cosY = (y, j) => Math.cos((Math.PI * y * j) / height);
  for (let y = 0; y < height; y += 1) {
    for (let x = 0; x < width; x += 1) {
      let r = 0;
      let g = 0;
      let b = 0;
      for (let j = 0; j < ny; j += 1) {
        for (let i = 0; i < nx; i += 1) {
          const basis = cosX(x, i) * cosY(y, j);
          const colour = colours[i + j * nx];
          r += colour[0] * basis;
          g += colour[1] * basis;
          b += colour[2] * basis;
        }
      }
      const at = 4 * (x + y * width);
      pixels[at] = toSrgb(r);
      pixels[at + 1] = toSrgb(g);
      pixels[at + 2] = toSrgb(b);
      pixels[at + 3] = 255;
    }
  }
  return pixels;
}

/** A small canvas painted from ``hash`` (null when the hash is missing or malformed). */
export function placeholder(hash, width = 32, height = 32) {
  if (!hash) return null;
  try {
    const pixels = decode(hash, width, height);
    const canvas = document.createElement("canvas");
    canvas.width = width;
    canvas.height = height;
    canvas.setAttribute("aria-hidden", "true");
    canvas.className = "blurhash";
    canvas.getContext("2d").putImageData(new ImageData(pixels, width, height), 0, 0);
    return canvas;
  } catch {
    return null;
  }
}
