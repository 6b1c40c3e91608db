from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from repchange.measure.metrics import centred_gram, cka_from_grams, linear_cka


def rand(n: int, p: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, p))


def textbook_cka(x: np.ndarray, y: np.ndarray) -> float:
    """HSIC = tr(K H L H) / (n-1)^2 with H the centring matrix; CKA its normalised form."""
    n = x.shape[0]
    h = np.eye(n) - np.ones((n, n)) / n
    k, l = x @ x.T, y @ y.T
    hsic = lambda a, b: np.trace(a @ h @ b @ h) / (n - 1) ** 2  # noqa: E731
    return hsic(k, l) / np.sqrt(hsic(k, k) * hsic(l, l))


def u_statistic_hsic(k: np.ndarray, l: np.ndarray) -> float:
    """Unbiased HSIC as the average over all ordered 4-tuples of distinct samples (Song et al. 2012)."""
    n = k.shape[0]
    total, count = 0.0, 0
    for i, j, q, r in itertools.permutations(range(n), 4):
        total += k[i, j] * l[i, j] + k[i, j] * l[q, r] - 2 * k[i, j] * l[i, q]
        count += 1
    return total / count


@pytest.mark.parametrize("p,q", [(5, 3), (40, 7), (60, 80)])  # covariance form, mixed, Gram form
def test_matches_the_textbook_formula(p: int, q: int) -> None:
    x, y = rand(30, p, 0), rand(30, q, 1) + rand(30, 1, 2)
    assert linear_cka(x, y) == pytest.approx(textbook_cka(x, y), rel=1e-10)


def test_debiased_matches_the_u_statistic() -> None:
    x, y = rand(7, 3, 3), rand(7, 4, 4)
    expected = u_statistic_hsic(x @ x.T, y @ y.T) / np.sqrt(
        u_statistic_hsic(x @ x.T, x @ x.T) * u_statistic_hsic(y @ y.T, y @ y.T))
    assert linear_cka(x, y, debiased=True) == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize("debiased", [False, True])
def test_identity_symmetry_and_invariances(debiased: bool) -> None:
    x = rand(50, 20, 5)
    y = x @ rand(20, 20, 6) + 0.5 * rand(50, 20, 7)
    q, _ = np.linalg.qr(rand(20, 20, 8))
    assert linear_cka(x, x, debiased=debiased) == pytest.approx(1.0, abs=1e-12)
    assert linear_cka(x, y, debiased=debiased) == pytest.approx(linear_cka(y, x, debiased=debiased), abs=1e-12)
    base = linear_cka(x, y, debiased=debiased)
    assert linear_cka(x @ q, y, debiased=debiased) == pytest.approx(base, abs=1e-10)  # orthogonal map
    assert linear_cka(3.7 * x + 2.0, y, debiased=debiased) == pytest.approx(base, abs=1e-10)  # scale + shift
    squash = np.diag(np.linspace(0.05, 5, 20))  # invertible, not orthogonal
    assert abs(linear_cka(x @ squash, y, debiased=debiased) - base) > 1e-2


def test_one_column_each_is_squared_pearson() -> None:
    a, b = rand(40, 1, 9), rand(40, 1, 10) + rand(40, 1, 9)
    r = np.corrcoef(a[:, 0], b[:, 0])[0, 1]
    assert linear_cka(a, b) == pytest.approx(r**2, rel=1e-10)


def test_chance_level_of_biased_and_debiased_cka() -> None:
    n, p = 100, 400
    values = [linear_cka(rand(n, p, s), rand(n, p, 100 + s)) for s in range(5)]
    debiased = [linear_cka(rand(n, p, s), rand(n, p, 100 + s), debiased=True) for s in range(5)]
    # For iid Gaussian features, biased CKA sits near p / (n + p) (0.8 here); debiased near 0.
    assert np.mean(values) == pytest.approx(p / (n + p), abs=0.03)
    assert abs(np.mean(debiased)) < 0.02


def test_grams_give_the_same_answer_and_accept_tensors() -> None:
    x, y = rand(25, 30, 11), rand(25, 12, 12)
    k, l = centred_gram(torch.from_numpy(x).float()), centred_gram(y)
    assert cka_from_grams(k, l) == pytest.approx(linear_cka(x, y), rel=1e-6)
    assert cka_from_grams(k, l, debiased=True) == pytest.approx(linear_cka(x, y, debiased=True), abs=1e-6)


def test_clear_errors() -> None:
    with pytest.raises(ValueError, match=r"same number of samples.*\(10, 3\).*\(9, 3\)"):
        linear_cka(rand(10, 3, 0), rand(9, 3, 0))
    bad = rand(10, 3, 0)
    bad[2, 1] = np.nan
    with pytest.raises(ValueError, match="NaN or infinite"):
        linear_cka(bad, rand(10, 3, 1))
    with pytest.raises(ValueError, match="constant across samples"):
        linear_cka(np.ones((10, 3)), rand(10, 3, 1))
    with pytest.raises(ValueError, match="2-D"):
        linear_cka(np.ones(10), rand(10, 3, 1))
    with pytest.raises(ValueError, match="at least 4 samples"):
        linear_cka(rand(3, 2, 0), rand(3, 2, 1), debiased=True)


# --- Procrustes, PWSM, per-filter Procrustes, Pearson, minibatch CKA, factor cache -------------

from scipy.spatial import procrustes as scipy_procrustes  # noqa: E402

from repchange.measure.metrics import (
    Factors,
    MinibatchCKA,
    filter_cka,
    filter_procrustes_similarity,
    minibatch_cka,
    pearson,
    procrustes_angle,
    pwsm,
    pwsm_alphas,
)


def centre(x: np.ndarray) -> np.ndarray:
    return x - x.mean(0)


def textbook_procrustes(x: np.ndarray, y: np.ndarray) -> float:
    xc, yc = centre(x), centre(y)
    nuclear = np.linalg.svd(xc.T @ yc, compute_uv=False).sum()
    return float(np.arccos(np.clip(nuclear / (np.linalg.norm(xc) * np.linalg.norm(yc)), -1, 1)))


def mean_canonical_correlation(x: np.ndarray, y: np.ndarray) -> float:
    qx, _ = np.linalg.qr(centre(x))
    qy, _ = np.linalg.qr(centre(y))
    return float(np.linalg.svd(qx.T @ qy, compute_uv=False).mean())


@pytest.mark.parametrize("p,q", [(6, 6), (8, 5), (70, 90)])  # feature form, unequal widths, Gram form
def test_procrustes_matches_the_textbook_formula(p: int, q: int) -> None:
    x = rand(40, p, 20)
    y = rand(40, q, 21) + 0.5 * x[:, :q] if q <= p else rand(40, q, 21)  # correlated where widths allow
    assert procrustes_angle(x, y) == pytest.approx(textbook_procrustes(x, y), abs=1e-8)


def test_procrustes_identity_symmetry_invariance_bounds() -> None:
    x, y = rand(30, 8, 22), rand(30, 8, 23)
    q, _ = np.linalg.qr(rand(8, 8, 24))
    assert procrustes_angle(x, 2.5 * x @ q + 1.0) == pytest.approx(0.0, abs=1e-6)
    assert procrustes_angle(x, y) == pytest.approx(procrustes_angle(y, x), abs=1e-12)
    assert 0.0 <= procrustes_angle(x, y) <= np.pi / 2


def test_pwsm_alpha_one_is_procrustes_and_alpha_zero_is_mean_cca() -> None:
    x, y = rand(200, 6, 25), rand(200, 6, 26) + 0.8 * rand(200, 6, 25)
    assert pwsm(x, y, alpha=1.0) == pytest.approx(procrustes_angle(x, y), abs=1e-12)
    assert pwsm(x, y, alpha=0.0) == pytest.approx(np.arccos(mean_canonical_correlation(x, y)), abs=1e-8)


@pytest.mark.parametrize("alpha", [0.0, 0.5, 1.0])
def test_pwsm_is_a_metric_and_ignores_scale_and_row_duplication(alpha: float) -> None:
    reps = [rand(60, 5, 30 + i) + 0.5 * rand(60, 5, 29) for i in range(6)]
    for a, b, c in itertools.permutations(reps[:4], 3):
        assert pwsm(a, c, alpha=alpha) <= pwsm(a, b, alpha=alpha) + pwsm(b, c, alpha=alpha) + 1e-10
    x, y = reps[4], reps[5]
    base = pwsm(x, y, alpha=alpha)
    assert pwsm(x, x, alpha=alpha) == pytest.approx(0.0, abs=1e-6)
    assert pwsm(7.0 * x, y, alpha=alpha) == pytest.approx(base, abs=1e-10)
    assert pwsm(np.vstack([x, x]), np.vstack([y, y]), alpha=alpha) == pytest.approx(base, abs=1e-10)
    assert pwsm(y, x, alpha=alpha) == pytest.approx(base, abs=1e-8)


@pytest.mark.parametrize("scale_free", [True, False])
def test_pwsm_alphas_equals_the_definition_on_whitened_copies(scale_free: bool) -> None:
    """One cross product for all alphas (W_x XᵀY W_y, n tr(W C W)) gives what φ(X) = Xc W written out gives."""
    x, y = rand(300, 12, 0) * 3.0, rand(300, 9, 1) + rand(300, 1, 2)

    def direct(alpha: float) -> float:
        def phi(m: np.ndarray) -> np.ndarray:
            mc = m - m.mean(0)
            cov = mc.T @ mc / len(mc)
            values, vectors = np.linalg.eigh(cov / (cov.trace() / len(cov) if scale_free else 1.0))
            return mc @ (alpha * np.eye(len(cov)) + (1 - alpha) * (vectors / np.sqrt(values)) @ vectors.T)

        px, py = phi(x), phi(y)
        return float(np.arccos(np.linalg.svd(px.T @ py, compute_uv=False).sum() / np.sqrt((px ** 2).sum() * (py ** 2).sum())))

    alphas = (0.0, 0.25, 0.5, 1.0)
    values = pwsm_alphas(x, y, alphas, scale_free=scale_free)
    assert list(values) == list(alphas)
    for alpha in alphas:
        assert values[alpha] == pytest.approx(direct(alpha), abs=1e-10)
        assert pwsm(x, y, alpha=alpha, scale_free=scale_free) == values[alpha]


def test_pwsm_refuses_whitening_with_fewer_samples_than_features() -> None:
    with pytest.raises(ValueError, match=r"alpha=0.5 needs at least as many samples as features.*\(10, 20\)"):
        pwsm(rand(10, 20, 0), rand(10, 5, 1), alpha=0.5)
    assert pwsm(rand(10, 20, 0), rand(10, 5, 1), alpha=1.0) > 0  # Procrustes needs no whitening
    with pytest.raises(ValueError, match=r"alpha must lie in \[0, 1\]"):
        pwsm(rand(10, 2, 0), rand(10, 2, 1), alpha=1.5)


def test_filter_procrustes_matches_scipy_disparity() -> None:
    a, b = rand(4 * 7, 7, 40).reshape(4, 7, 7), rand(4 * 7, 7, 41).reshape(4, 7, 7)
    sims = filter_procrustes_similarity(a, b, centre="columns")
    for i in range(4):
        _, _, disparity = scipy_procrustes(a[i], b[i])
        assert float(sims[i]) == pytest.approx(np.sqrt(1 - disparity), abs=1e-10)
    assert torch.allclose(filter_procrustes_similarity(a, a), torch.ones(4, dtype=torch.float64))


def test_filter_procrustes_dead_filters_are_nan_and_shapes_are_checked() -> None:
    a = rand(2 * 3 * 5, 5, 42).reshape(2, 3, 5, 5)
    b = a.copy()
    b[1, 2] = 0.0  # a dead filter in image 1
    sims = filter_procrustes_similarity(a, b)
    assert sims.shape == (2, 3) and torch.isnan(sims[1, 2]) and int(torch.isnan(sims).sum()) == 1
    with pytest.raises(ValueError, match=r"same shape.*\(2, 3, 5, 5\).*\(2, 3, 5, 4\)"):
        filter_procrustes_similarity(a, a[..., :4])


def test_filter_procrustes_row_centring_is_the_authors_formula() -> None:
    a, b = rand(3 * 6, 5, 45).reshape(3, 6, 5), rand(3 * 6, 5, 46).reshape(3, 6, 5)
    rows = filter_procrustes_similarity(a, b, centre="rows")
    for i in range(3):  # the authors: x - x.mean(dim=1), / ||.||_F, nuclear norm of xᵀy
        x = a[i] - a[i].mean(1, keepdims=True)
        y = b[i] - b[i].mean(1, keepdims=True)
        x, y = x / np.linalg.norm(x), y / np.linalg.norm(y)
        assert float(rows[i]) == pytest.approx(np.linalg.svd(x.T @ y, compute_uv=False).sum(), abs=1e-10)
    assert not torch.allclose(rows, filter_procrustes_similarity(a, b, centre="columns"), atol=1e-3)  # they differ
    with pytest.raises(ValueError, match="centre must be one of"):
        filter_procrustes_similarity(a, b, centre="both")


@pytest.mark.parametrize("centre", ["rows", "columns"])
def test_filter_cka_is_linear_cka_of_each_map_with_rows_as_samples(centre: str) -> None:
    """The authors' orientation, shared with the per-filter Procrustes: H rows are samples, W columns
    features; each map centred as Procrustes centres it, then CKA centres the samples."""
    a, b = rand(4 * 7, 6, 47).reshape(4, 7, 6), rand(4 * 7, 6, 48).reshape(4, 7, 6)
    scores = filter_cka(a, b, centre=centre)
    axis = 1 if centre == "rows" else 0
    for i in range(4):
        x, y = a[i] - a[i].mean(axis, keepdims=True), b[i] - b[i].mean(axis, keepdims=True)
        assert float(scores[i]) == pytest.approx(linear_cka(x, y), abs=1e-10)
    assert torch.allclose(filter_cka(a, a, centre=centre), torch.ones(4, dtype=torch.float64))
    rotation = np.linalg.qr(rand(6, 6, 49))[0]
    assert torch.allclose(filter_cka(a, 3 * a @ rotation, centre="columns"), torch.ones(4, dtype=torch.float64))
    dead = a.copy()
    dead[2] = 0.0
    assert torch.isnan(filter_cka(a, dead)[2]) and int(torch.isnan(filter_cka(a, dead)).sum()) == 1


@pytest.mark.parametrize("centre", ["rows", "columns"])
def test_filter_pwsm_at_one_is_the_angle_of_the_per_filter_procrustes_similarity(centre: str) -> None:
    from repchange.measure.metrics import filter_pwsm

    a, b = rand(5 * 9, 4, 50).reshape(5, 9, 4), rand(5 * 9, 4, 51).reshape(5, 9, 4)
    angle = filter_pwsm(a, b, alpha=1.0, centre=centre)
    assert torch.allclose(angle, torch.arccos(filter_procrustes_similarity(a, b, centre=centre)), atol=1e-10)
    for alpha in (0.0, 0.5, 1.0):
        d = filter_pwsm(a, b, alpha=alpha, centre=centre)
        assert torch.allclose(d, filter_pwsm(b, a, alpha=alpha, centre=centre), atol=1e-10)  # symmetric
        assert ((d >= 0) & (d <= np.pi / 2)).all()
        assert torch.allclose(filter_pwsm(a, a, alpha=alpha, centre=centre), torch.zeros(5, dtype=torch.float64),
                              atol=1e-6)
    dead = a.copy()
    dead[1] = 0.0
    assert int(torch.isnan(filter_pwsm(a, dead, alpha=0.5)).sum()) == 1
    with pytest.raises(ValueError, match="alpha must lie in"):
        filter_pwsm(a, b, alpha=1.5)


def test_a_side_whitened_once_gives_the_same_distances_and_must_match_alpha_and_centring() -> None:
    from repchange.measure.metrics import FilterWhitened, filter_pwsm

    a, b = rand(4 * 8, 5, 55).reshape(4, 8, 5), rand(4 * 8, 5, 56).reshape(4, 8, 5)
    once = FilterWhitened(a, alpha=0.5, centre="rows")
    assert torch.equal(filter_pwsm(once, b, alpha=0.5), filter_pwsm(a, b, alpha=0.5))
    assert torch.equal(filter_pwsm(b, once, alpha=0.5), filter_pwsm(b, a, alpha=0.5))
    with pytest.raises(ValueError, match="FilterWhitened of alpha=0.5"):
        filter_pwsm(once, b, alpha=0.0)
    with pytest.raises(ValueError, match="same shape"):
        filter_pwsm(once, b[:, :, :4], alpha=0.5)


def test_filter_pwsm_at_zero_ignores_any_invertible_map_of_the_columns() -> None:
    """Full whitening (α = 0) with more samples (rows) than features (columns): an invertible linear map of
    the W features leaves the distance unchanged; at α = 1 (Procrustes) it does not."""
    from repchange.measure.metrics import filter_pwsm

    a, b = rand(3 * 12, 4, 52).reshape(3, 12, 4), rand(3 * 12, 4, 53).reshape(3, 12, 4)
    stretch = np.diag([1.0, 4.0, 0.5, 2.0]) @ np.linalg.qr(rand(4, 4, 54))[0]
    before = filter_pwsm(a, b, alpha=0.0, centre="columns")
    assert torch.allclose(filter_pwsm(a @ stretch, b, alpha=0.0, centre="columns"), before, atol=1e-8)
    assert not torch.allclose(filter_pwsm(a @ stretch, b, alpha=1.0, centre="columns"),
                              filter_pwsm(a, b, alpha=1.0, centre="columns"), atol=1e-3)


def test_pearson_masks_nans_and_matches_numpy() -> None:
    a, b = rand(50, 1, 43)[:, 0], rand(50, 1, 44)[:, 0] + rand(50, 1, 43)[:, 0]
    assert pearson(a, b) == pytest.approx(np.corrcoef(a, b)[0, 1], abs=1e-12)
    a2 = a.copy()
    a2[[3, 7]] = np.nan
    keep = np.isfinite(a2)
    assert pearson(a2, b) == pytest.approx(np.corrcoef(a2[keep], b[keep])[0, 1], abs=1e-12)
    with pytest.raises(ValueError, match="constant"):
        pearson(np.ones(5), np.arange(5.0))
    with pytest.raises(ValueError, match="equal lengths"):
        pearson(np.ones(5), np.ones(4))


def test_minibatch_cka_is_the_mean_of_batch_hsics() -> None:
    x = rand(300, 40, 45)
    y = rand(300, 30, 46) + 0.2 * x[:, :30]
    assert minibatch_cka([(x, y)]) == pytest.approx(linear_cka(x, y, debiased=True), abs=1e-12)
    assert minibatch_cka([(x, y)], debiased=False) == pytest.approx(linear_cka(x, y), abs=1e-12)
    from repchange.measure.metrics import unbiased_hsic

    batches = [(x[i : i + 100], y[i : i + 100]) for i in range(0, 300, 100)]
    grams = [(centred_gram(a), centred_gram(b)) for a, b in batches]
    xy = np.mean([float(unbiased_hsic(k, l)) for k, l in grams])
    xx = np.mean([float(unbiased_hsic(k, k)) for k, _ in grams])
    yy = np.mean([float(unbiased_hsic(l, l)) for _, l in grams])
    assert minibatch_cka(batches) == pytest.approx(xy / np.sqrt(xx * yy), abs=1e-12)
    # and it estimates the full-data debiased CKA
    assert minibatch_cka(batches) == pytest.approx(linear_cka(x, y, debiased=True), abs=0.05)
    with pytest.raises(ValueError, match="no batches"):
        MinibatchCKA().value


def test_factors_are_computed_once_and_give_the_same_answers() -> None:
    x, y = rand(30, 50, 47), rand(30, 8, 48)
    fx, fy = Factors(x), Factors(y)
    assert fx.gram is fx.gram  # cached
    for metric in (linear_cka, procrustes_angle):
        assert metric(fx, fy) == pytest.approx(metric(x, y), abs=1e-12)
    assert linear_cka(fx, fy, debiased=True) == pytest.approx(linear_cka(x, y, debiased=True), abs=1e-12)


def test_read_only_arrays_are_accepted_without_warnings() -> None:
    import warnings

    a, b = rand(20, 3, 50), rand(20, 3, 51)
    a.flags.writeable = False
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert linear_cka(a, b) == pytest.approx(linear_cka(a.copy(), b))
        assert pearson(a[:, 0], b[:, 0]) == pytest.approx(np.corrcoef(a[:, 0], b[:, 0])[0, 1])


def test_pwsm_scale_free_whitening_differs_from_netreps_only_between_the_ends() -> None:
    x, y = 5 * rand(200, 6, 50), rand(200, 6, 51) + 0.5 * rand(200, 6, 50)  # mean variance 25 and 1.25
    for alpha in (0.0, 1.0):
        assert pwsm(x, y, alpha=alpha, scale_free=False) == pytest.approx(pwsm(x, y, alpha=alpha), abs=1e-9)
    ours, netreps = pwsm(x, y, alpha=0.5), pwsm(x, y, alpha=0.5, scale_free=False)
    assert abs(ours - netreps) > 1e-4
    assert pwsm(10 * x, y, alpha=0.5) == pytest.approx(ours, abs=1e-9)  # ours: unchanged by scaling an input
    assert abs(pwsm(10 * x, y, alpha=0.5, scale_free=False) - netreps) > 1e-4  # netrep's convention: changed


def test_procrustes_in_gram_form_is_as_exact_as_the_svd_of_the_cross_product() -> None:
    """Wider than the sample count (the Gram route, Study B's layers): within 1e-12 rad of the
    SVD of Xcᵀ Yc, both ways round (the former tr((K^½ L K^½)^½) route was off by ~5e-8 rad)."""
    rng = np.random.default_rng(41)
    x = rng.standard_normal((20, 9)) * rng.uniform(0.1, 10, size=9)
    y = x @ rng.standard_normal((9, 21)) + 0.7 * rng.standard_normal((20, 21))
    xc, yc = x - x.mean(0), y - y.mean(0)
    exact = np.arccos(np.linalg.svd(xc.T @ yc, compute_uv=False).sum() / np.linalg.norm(xc) / np.linalg.norm(yc))
    assert procrustes_angle(x, y) == pytest.approx(exact, abs=1e-12)
    assert procrustes_angle(y, x) == pytest.approx(exact, abs=1e-12)


def test_mutual_knn_alignment_is_one_for_the_same_geometry_and_near_chance_for_unrelated_data() -> None:
    from repchange.measure.metrics import mutual_knn

    rng = np.random.default_rng(0)
    x = rng.standard_normal((200, 30))
    q, _ = np.linalg.qr(rng.standard_normal((30, 30)))
    assert mutual_knn(x, 3.0 * x @ q, k=10) == pytest.approx(1.0)  # orthogonal map and isotropic scale
    unrelated = [mutual_knn(x, rng.standard_normal((200, 30)), k=10) for _ in range(5)]
    assert np.mean(unrelated) == pytest.approx(10 / 199, abs=0.03)
    noisy = mutual_knn(x, x + 0.3 * rng.standard_normal((200, 30)), k=10)
    assert 10 / 199 + 0.1 < noisy < 1.0
    assert mutual_knn(x, x[:, ::-1].copy(), k=5) == pytest.approx(1.0)  # permuting features keeps every neighbour
    with pytest.raises(ValueError, match="k must lie in 1..n-1"):
        mutual_knn(x, x, k=200)


def test_mutual_knn_matches_scikit_learns_neighbours() -> None:
    """Reference: scikit-learn's exact cosine k-NN on the centred features, the overlap counted with sets."""
    from sklearn.neighbors import NearestNeighbors

    from repchange.measure.metrics import mutual_knn

    rng = np.random.default_rng(3)
    x = rng.standard_normal((60, 8))
    y = x @ rng.standard_normal((8, 5)) + 0.5 * rng.standard_normal((60, 5))

    def neighbour_sets(z: np.ndarray, k: int) -> list[set]:
        z = z - z.mean(0)
        idx = NearestNeighbors(n_neighbors=k + 1, metric="cosine").fit(z).kneighbors(z, return_distance=False)
        return [set(row) - {i} if i in row else set(row[:k]) for i, row in enumerate(idx)]

    for k in (1, 5, 10):
        nx, ny = neighbour_sets(x, k), neighbour_sets(y, k)
        expected = np.mean([len(a & b) / k for a, b in zip(nx, ny)])
        assert mutual_knn(x, y, k=k) == pytest.approx(expected), k


def test_partial_whitening_of_a_layer_wider_than_the_probe_is_undefined_in_every_table() -> None:
    """PWSM at alpha < 1 needs n >= p: a table records it as undefined with the reason (the tool's compare once
    stopped there, after every activation was computed), and a direct call still refuses it as a ValueError."""
    import math

    import torch

    from repchange.measure.factors import Factors, UndefinedSimilarity
    from repchange.measure.registry import Sides, evaluate
    from repchange.measure.shape import pwsm

    wide = torch.randn(10, 20, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    value, note = evaluate("pwsm", Sides(Factors(wide), Factors(wide + 1), alpha=0.5))
    assert math.isnan(value) and note.startswith("undefined: partial whitening with alpha=0.5 needs at least")
    assert evaluate("pwsm", Sides(Factors(wide), Factors(wide), alpha=1.0))[1] == ""  # Procrustes needs no whitening
    with pytest.raises(UndefinedSimilarity):
        pwsm(wide, wide, alpha=0.0)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_per_filter_measures_refuse_a_non_finite_map_on_either_side(bad: float) -> None:
    """The finiteness check reads one sum per side: any NaN or infinity, in A, in B or in a FilterWhitened's maps,
    is refused; finite maps whose float64 sum overflows are not (the check then looks element by element)."""
    from repchange.measure.per_filter import (FilterWhitened, _finite, filter_cka, filter_procrustes_similarity,
                                              filter_pwsm)

    good = np.random.default_rng(0).standard_normal((3, 5, 4))
    broken = good.copy()
    broken[1, 2, 3] = bad
    for measure in (filter_procrustes_similarity, filter_cka):
        for a, b in ((broken, good), (good, broken)):
            with pytest.raises(ValueError, match="NaN or infinite"):
                measure(a, b)
    with pytest.raises(ValueError, match="NaN or infinite"):
        FilterWhitened(broken, alpha=0.5)
    with pytest.raises(ValueError, match="NaN or infinite"):
        filter_pwsm(good, broken, alpha=0.5)
    assert _finite(torch.full((4,), 1e308, dtype=torch.float64))  # finite, though its sum overflows
    assert not _finite(torch.tensor([1.0, np.nan])) and not _finite(torch.tensor([np.inf, -np.inf]))
