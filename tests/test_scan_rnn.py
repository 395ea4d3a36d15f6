"""The scan_rnn module: realistic mistakes lose points, correct alternatives score full."""

from __future__ import annotations

import pytest
from conftest import Mistake, assert_full_marks, assert_mistake_caught

MISTAKES = {
    "W_hh @ h in place of h @ W_hh": Mistake(
        "rnn_cell",
        """
        def rnn_cell(params, h, x):
            h_new = jnp.tanh(x @ params["W_xh"] + params["W_hh"] @ h + params["b_h"])
            return h_new, h_new
        """,
        "values",
        "expected",
    ),
    "a Python loop over the steps": Mistake(
        "rnn_forward",
        """
        def rnn_forward(params, h0, xs):
            h, hs = h0, []
            for t in range(xs.shape[0]):
                h, out = rnn_cell(params, h, xs[t])
                hs.append(out)
            return h, jnp.stack(hs)
        """,
        "uses scan",
        "no loop",
    ),
    "h0 kept in the hidden states": Mistake(
        "rnn_forward",
        """
        def rnn_forward(params, h0, xs):
            h_T, hs = jax.lax.scan(lambda h, x: rnn_cell(params, h, x), h0, xs)
            return h_T, jnp.concatenate([h0[None], hs])
        """,
        "shape and dtype",
        "expected shape (5, 4), got (6, 4)",
    ),
    "the gates in the order i, f, o, g": Mistake(
        "lstm_cell",
        """
        def lstm_cell(params, carry, x):
            h, c = carry
            z = jnp.concatenate([x, h]) @ params["W"] + params["b"]
            i, f, o, g = jnp.split(z, 4)
            c_new = jax.nn.sigmoid(f) * c + jax.nn.sigmoid(i) * jnp.tanh(g)
            h_new = jax.nn.sigmoid(o) * jnp.tanh(c_new)
            return (h_new, c_new), h_new
        """,
        "values",
        "expected",
    ),
    "h_new without the tanh of the cell": Mistake(
        "lstm_cell",
        """
        def lstm_cell(params, carry, x):
            h, c = carry
            z = jnp.concatenate([x, h]) @ params["W"] + params["b"]
            i, f, g, o = jnp.split(z, 4)
            c_new = jax.nn.sigmoid(f) * c + jax.nn.sigmoid(i) * jnp.tanh(g)
            h_new = jax.nn.sigmoid(o) * c_new
            return (h_new, c_new), h_new
        """,
        "values",
        "expected",
    ),
    "a Python loop over the batch": Mistake(
        "batched_rnn_forward",
        """
        def batched_rnn_forward(params, h0, xs):
            outs = [rnn_forward(params, h0, xs[b]) for b in range(xs.shape[0])]
            return jnp.stack([o[0] for o in outs]), jnp.stack([o[1] for o in outs])
        """,
        "does not grow with B",
        "grows with B",
    ),
    "truncated backpropagation: a stop_gradient on the carry": Mistake(
        "rnn_regression_loss",
        """
        def rnn_regression_loss(params, readout, h0, xs, ys):
            def step(h, x):
                h_new, _ = rnn_cell(params, jax.lax.stop_gradient(h), x)
                return h_new, h_new

            _, hs = jax.lax.scan(step, h0, xs)
            return jnp.mean((hs @ readout["W"] + readout["b"] - ys) ** 2)
        """,
        "gradients",
        "the gradient with respect to params['W_hh']",
    ),
    "a sum of squared errors where the mean is due": Mistake(
        "rnn_regression_loss",
        """
        def rnn_regression_loss(params, readout, h0, xs, ys):
            _, hs = rnn_forward(params, h0, xs)
            return jnp.sum((hs @ readout["W"] + readout["b"] - ys) ** 2)
        """,
        "values",
        "expected",
    ),
}

ALTERNATIVES = {
    "einsum, Partial and slicing in place of jnp.split": """
        def rnn_cell(params, h, x):
            pre = jnp.einsum("d,dh->h", x, params["W_xh"]) + jnp.einsum(
                "k,kh->h", h, params["W_hh"])
            h_new = jnp.tanh(pre + params["b_h"])
            return h_new, h_new

        def rnn_forward(params, h0, xs):
            return jax.lax.scan(jax.tree_util.Partial(rnn_cell, params), h0, xs)

        def lstm_cell(params, carry, x):
            h, c = carry
            H = h.shape[0]
            z = jnp.concatenate([x, h]) @ params["W"] + params["b"]
            i = jax.nn.sigmoid(z[:H])
            f = jax.nn.sigmoid(z[H:2 * H])
            g = jnp.tanh(z[2 * H:3 * H])
            o = jax.nn.sigmoid(z[3 * H:])
            c_new = f * c + i * g
            h_new = o * jnp.tanh(c_new)
            return (h_new, c_new), h_new
        """,
    "a split weight matrix and a vmapped step over a batch axis": """
        def lstm_cell(params, carry, x):
            h, c = carry
            D = x.shape[0]
            z = x @ params["W"][:D] + h @ params["W"][D:] + params["b"]
            i, f, g, o = jnp.split(z, 4)
            c_new = jax.nn.sigmoid(f) * c + jax.nn.sigmoid(i) * jnp.tanh(g)
            return (jax.nn.sigmoid(o) * jnp.tanh(c_new), c_new), (
                jax.nn.sigmoid(o) * jnp.tanh(c_new))

        def batched_rnn_forward(params, h0, xs):
            hs0 = jnp.broadcast_to(h0, (xs.shape[0], h0.shape[0]))
            step = jax.vmap(rnn_cell, in_axes=(None, 0, 0))
            h_T, hs = jax.lax.scan(lambda h, x: step(params, h, x), hs0, jnp.swapaxes(xs, 0, 1))
            return h_T, jnp.swapaxes(hs, 0, 1)

        def rnn_regression_loss(params, readout, h0, xs, ys):
            _, hs = rnn_forward(params, h0, xs)
            errors = jnp.einsum("th,ho->to", hs, readout["W"]) + readout["b"] - ys
            return jnp.sum(errors ** 2) / errors.size
        """,
}


@pytest.mark.parametrize("name", list(MISTAKES))
def test_mistake_loses_points_on_its_function(name, grade_here):
    assert_mistake_caught(grade_here, "scan_rnn", MISTAKES[name])


@pytest.mark.parametrize("name", list(ALTERNATIVES))
def test_correct_alternative_scores_full_marks(name, grade_here):
    assert_full_marks(grade_here, "scan_rnn", ALTERNATIVES[name])
