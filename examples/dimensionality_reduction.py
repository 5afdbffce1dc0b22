# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Dimensionality reduction: VAE codes against PCA
#
# `vaekit.VAETransformer` is a scikit-learn transformer: `fit` trains a VAE
# on a table, `transform` returns the posterior means q(z|x). Here the table
# is scikit-learn's bundled digits (1,797 rows of 64 pixel columns, nothing is
# downloaded), reduced to 2 and to 8 dimensions by the VAE and by PCA. Nobody
# used the labels to make the codes; they are used afterwards, to ask how
# much of the digit's identity each code kept:
#
# - a linear probe (logistic regression) on the codes;
# - 5 nearest neighbours on the codes (is the neighbourhood structure kept?).
#
# Pictures go to `$VAEKIT_EXAMPLES_OUT` (default `examples/out`). About 15 s
# on two CPU cores.

# %%
import os
from pathlib import Path

from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from vaekit import VAETransformer
from vaekit.plots import plot_latent

OUT = Path(os.environ.get("VAEKIT_EXAMPLES_OUT", "examples/out"))
OUT.mkdir(parents=True, exist_ok=True)

X, y = load_digits(return_X_y=True)  # (1797, 64) grey levels 0..16, (1797,) digits
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, stratify=y, random_state=0)

# %% [markdown]
# ## Fit both reducers at each dimension
#
# The transformer fits a Gaussian MLP VAE for about `steps` Adam steps. The
# 64 columns are pixels in one unit, so neither reducer rescales them
# (`scaling="none"`; the default `"standard"` suits columns in different
# units, and here would blow up the near-constant border pixels, for PCA
# too). Both see the training rows only; the scores are on the held-out rows.

# %%
def probe_scores(Z_train, Z_test):
    """Test accuracy of a logistic-regression probe and of 5-NN on the codes."""
    linear = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)).fit(Z_train, y_train)
    knn = KNeighborsClassifier(n_neighbors=5).fit(Z_train, y_train)
    return linear.score(Z_test, y_test), knn.score(Z_test, y_test)


codes, rows = {}, []
for dim in (2, 8):
    reducers = {
        "vae": VAETransformer(latent_dim=dim, steps=1500, scaling="none", random_state=0),
        "pca": PCA(n_components=dim, random_state=0),
    }
    for name, reducer in reducers.items():
        Z_train = reducer.fit_transform(X_train)  # (1347, dim)
        Z_test = reducer.transform(X_test)  # (450, dim)
        codes[name, dim] = Z_test
        rows.append((name, dim, *probe_scores(Z_train, Z_test)))

print("test accuracy of probes on the codes (chance: 0.10)")
print(f"{'reducer':<8} {'dim':>4} {'linear':>8} {'5-NN':>8}")
for name, dim, linear, knn in rows:
    print(f"{name:<8} {dim:>4} {linear:8.3f} {knn:8.3f}")

# %% [markdown]
# ## Look at the 2-D codes
#
# `plot_latent` scatters the codes coloured by digit (a 2-D code is drawn as
# is; wider ones through their first two principal components).

# %%
for name in ("vae", "pca"):
    path = plot_latent(codes[name, 2], OUT / f"dimensionality_reduction_{name}_2d.png", labels=y_test,
                       title=f"{name.upper()} codes of the test digits")
    print(f"wrote {path}")
