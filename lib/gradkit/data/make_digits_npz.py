"""One-off script that wrote ``digits.npz``, kept so the file can be rebuilt and audited.

Source: the "Optical Recognition of Handwritten Digits" data set (optdigits) from the
UCI Machine Learning Repository, in the 8x8 form that scikit-learn bundles inside its
package (``sklearn.datasets.load_digits`` reads a local file, nothing is downloaded).
1797 images of the digits 0..9; each pixel counts the set bits of a 4x4 block of the
original 32x32 bitmap, so values are integers 0..16.

Citation: E. Alpaydin and C. Kaynak, "Optical Recognition of Handwritten Digits",
UCI Machine Learning Repository, 1998, https://doi.org/10.24432/C50P49 (CC BY 4.0).

Run once from the repository root (scikit-learn is needed only here, never by the
library)::

    .venv/bin/pip install scikit-learn
    .venv/bin/python lib/gradkit/data/make_digits_npz.py
"""

from pathlib import Path

import numpy as np


def main() -> None:
    from sklearn.datasets import load_digits  # imported here: the library never needs it

    digits = load_digits()
    images = digits.data.astype(np.uint8)  # values 0..16 fit a byte
    labels = digits.target.astype(np.uint8)
    assert images.shape == (1797, 64) and labels.shape == (1797,)
    assert images.min() == 0 and images.max() == 16
    out = Path(__file__).with_name("digits.npz")
    np.savez_compressed(out, X=images, y=labels)
    print(f"wrote {out} ({out.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
