"""Forward passes of the built-in layers against numpy / scipy references."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import signal, special

from ppgraph import dist, nn

P = dist.Normal(0.0, 1.0)
X = np.asarray(jax.random.normal(jax.random.key(1), (4, 6)))


@pytest.mark.parametrize(
    "layer, reference",
    [
        (nn.Relu(), lambda x: np.maximum(x, 0.0)),
        (nn.Tanh(), np.tanh),
        (nn.Sigmoid(), special.expit),
        (nn.Softmax(), lambda x: special.softmax(x, axis=-1)),
        (nn.LogSoftmax(), lambda x: special.log_softmax(x, axis=-1)),
        (nn.Gelu(), lambda x: 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x**3)))),
    ],
    ids=lambda v: v.describe() if isinstance(v, nn.Layer) else "",
)
def test_activations(layer, reference):
    np.testing.assert_allclose(layer.apply({}, jnp.asarray(X)), reference(X), rtol=1e-5, atol=1e-6)
    assert layer.shapes(X.shape) == ({}, X.shape)


def test_dense_against_numpy():
    w = {"kernel": np.arange(18.0).reshape(6, 3) / 10, "bias": np.array([1.0, -1.0, 0.5])}
    np.testing.assert_allclose(nn.Dense(3, P).apply(w, jnp.asarray(X)), X @ w["kernel"] + w["bias"], rtol=1e-5)
    no_bias = nn.Dense(3, P, use_bias=False)
    assert set(no_bias.shapes(X.shape)[0]) == {"kernel"}
    np.testing.assert_allclose(no_bias.apply({"kernel": w["kernel"]}, jnp.asarray(X)), X @ w["kernel"], rtol=1e-5)


@pytest.mark.parametrize("padding", ["VALID", "SAME"])
def test_conv2d_against_scipy_correlate(padding):
    rng = np.random.default_rng(0)
    images = rng.normal(size=(2, 7, 6, 2))
    layer = nn.Conv2D(3, (3, 2), P, padding=padding)
    shapes, out_shape = layer.shapes(images.shape)
    assert shapes["kernel"].shape == (3, 2, 2, 3) and shapes["bias"].shape == (3,)
    kernel = rng.normal(size=(3, 2, 2, 3))
    bias = rng.normal(size=3)
    ours = np.asarray(layer.apply({"kernel": jnp.asarray(kernel, jnp.float32), "bias": jnp.asarray(bias, jnp.float32)},
                                  jnp.asarray(images, jnp.float32)))
    assert ours.shape == out_shape
    for n in range(2):
        for f in range(3):
            if padding == "VALID":
                ref = sum(signal.correlate(images[n, :, :, c], kernel[:, :, c, f], mode="valid") for c in range(2)) + bias[f]
            else:  # XLA pads SAME like TensorFlow (the extra row / column after)
                ref = _same_by_hand(images[n], kernel[:, :, :, f], bias[f])
            np.testing.assert_allclose(ours[n, :, :, f], ref, rtol=1e-4, atol=1e-4)


def _same_by_hand(image, kernel, bias):
    """SAME convolution by hand with TensorFlow's padding (more after than before)."""
    kh, kw = kernel.shape[:2]
    top, left = (kh - 1) // 2, (kw - 1) // 2
    padded = np.pad(image, ((top, kh - 1 - top), (left, kw - 1 - left), (0, 0)))
    out = np.zeros(image.shape[:2])
    for i in range(image.shape[0]):
        for j in range(image.shape[1]):
            out[i, j] = np.sum(padded[i:i + kh, j:j + kw, :] * kernel) + bias
    return out


def test_conv2d_strides_and_unbatched_input():
    layer = nn.Conv2D(2, 3, P, strides=2, padding="VALID")
    assert layer.shapes((9, 9, 1))[1] == (4, 4, 2)
    assert layer.shapes((5, 2, 9, 9, 1))[1] == (5, 2, 4, 4, 2)


def test_flatten():
    x = jnp.arange(24.0).reshape(2, 3, 4)
    np.testing.assert_array_equal(nn.Flatten().apply({}, x), np.arange(24.0).reshape(2, 12))
    assert nn.Flatten(2).shapes((2, 3, 4, 5))[1] == (2, 3, 20)


def test_serial_chains_shapes_and_applies_in_order():
    mlp = nn.Serial(nn.Dense(5, P), nn.Relu(), nn.Dense(2, P), nn.LogSoftmax())
    shapes, out = mlp.shapes((4, 6))
    assert sorted(shapes) == ["0", "2"] and out == (4, 2)
    rng = np.random.default_rng(1)
    w = {"0": {"kernel": rng.normal(size=(6, 5)), "bias": rng.normal(size=5)},
         "2": {"kernel": rng.normal(size=(5, 2)), "bias": rng.normal(size=2)}}
    ref = special.log_softmax(np.maximum(X @ w["0"]["kernel"] + w["0"]["bias"], 0) @ w["2"]["kernel"] + w["2"]["bias"], axis=-1)
    np.testing.assert_allclose(mlp.apply(w, jnp.asarray(X)), ref, rtol=1e-4, atol=1e-5)
    assert mlp.num_weights((4, 6)) == 6 * 5 + 5 + 5 * 2 + 2


def test_conv_flatten_dense_stack():
    net = nn.Serial(nn.Conv2D(2, 3, P), nn.Relu(), nn.Flatten(), nn.Dense(3, P)).sample(jax.random.key(0), (5, 4, 4, 1))
    assert net.weights["3"]["kernel"].shape == (4 * 4 * 2, 3)
    assert net(jnp.ones((5, 4, 4, 1))).shape == (5, 3)


def test_a_user_layer_in_a_few_lines():
    from .models import Scale

    layer = Scale(dist.Normal(2.0, 0.5))
    net = layer.sample(jax.random.key(0), (3, 4))
    np.testing.assert_allclose(net(jnp.ones((3, 4))), jnp.broadcast_to(net.weights["w"], (3, 4)))
    np.testing.assert_allclose(layer.log_prob(net.weights), dist.Normal(2.0, 0.5).log_prob(net.weights["w"]).sum(), rtol=1e-6)


def test_init_is_glorot_for_kernels_and_zero_for_biases():
    w = nn.Dense(300, P).init(jax.random.key(0), (1, 200))
    assert np.all(np.asarray(w["bias"]) == 0)
    assert float(jnp.std(w["kernel"])) == pytest.approx(np.sqrt(2 / 500), rel=0.05)
