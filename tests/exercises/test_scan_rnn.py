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
    "the sequence scanned backwards (xs[::-1])": Mistake(
        # No hint that the steps run in reverse: h_T is the state after x_0.
        "rnn_forward",
        """
        def rnn_forward(params, h0, xs):
            return jax.lax.scan(lambda h, x: rnn_cell(params, h, x), h0, xs[::-1])
        """,
        "values",
        "expected",
    ),
    "hs in reverse order": Mistake(
        "rnn_forward",
        """
        def rnn_forward(params, h0, xs):
            h_T, hs = jax.lax.scan(lambda h, x: rnn_cell(params, h, x), h0, xs)
            return h_T, hs[::-1]
        """,
        "values",
        "hs: 16 of 20 entries differ",
    ),
    "the state before each step as the output (h0 in hs, h_T missing)": Mistake(
        "rnn_forward",
        """
        def rnn_forward(params, h0, xs):
            def step(h, x):
                h_new, _ = rnn_cell(params, h, x)
                return h_new, h

            return jax.lax.scan(step, h0, xs)
        """,
        "values",
        "hs: 20 of 20 entries differ",
    ),
    "(hs, h_T) in place of (h_T, hs)": Mistake(
        "rnn_forward",
        """
        def rnn_forward(params, h0, xs):
            h_T, hs = jax.lax.scan(lambda h, x: rnn_cell(params, h, x), h0, xs)
            return hs, h_T
        """,
        "shape and dtype",
        "h_T: expected shape (4,), got (5, 4)",
    ),
    "a scan fully unrolled (unroll=True)": Mistake(
        "rnn_forward",
        """
        def rnn_forward(params, h0, xs):
            return jax.lax.scan(lambda h, x: rnn_cell(params, h, x), h0, xs, unroll=True)
        """,
        "does not grow with T",
        "grows with T",
    ),
    "W_hh transposed, as PyTorch stores weight_hh": Mistake(
        "rnn_cell",
        """
        def rnn_cell(params, h, x):
            h_new = jnp.tanh(x @ params["W_xh"] + h @ params["W_hh"].T + params["b_h"])
            return h_new, h_new
        """,
        "values",
        "expected",
    ),
    "a sigmoid where the tanh is due": Mistake(
        "rnn_cell",
        """
        def rnn_cell(params, h, x):
            h_new = jax.nn.sigmoid(x @ params["W_xh"] + h @ params["W_hh"] + params["b_h"])
            return h_new, h_new
        """,
        "values",
        "expected",
    ),
    "tanh on the gates and a sigmoid on the candidate": Mistake(
        "lstm_cell",
        """
        def lstm_cell(params, carry, x):
            h, c = carry
            z = jnp.concatenate([x, h]) @ params["W"] + params["b"]
            i, f, g, o = jnp.split(z, 4)
            c_new = jnp.tanh(f) * c + jnp.tanh(i) * jax.nn.sigmoid(g)
            h_new = jnp.tanh(o) * jnp.tanh(c_new)
            return (h_new, c_new), h_new
        """,
        "values",
        "expected",
    ),
    "Keras's unit_forget_bias: 1 added to the forget gate": Mistake(
        "lstm_cell",
        """
        def lstm_cell(params, carry, x):
            h, c = carry
            z = jnp.concatenate([x, h]) @ params["W"] + params["b"]
            i, f, g, o = jnp.split(z, 4)
            c_new = jax.nn.sigmoid(f + 1.0) * c + jax.nn.sigmoid(i) * jnp.tanh(g)
            h_new = jax.nn.sigmoid(o) * jnp.tanh(c_new)
            return (h_new, c_new), h_new
        """,
        "values",
        "expected",
    ),
    "Haiku's gate order i, g, f, o": Mistake(
        "lstm_cell",
        """
        def lstm_cell(params, carry, x):
            h, c = carry
            z = jnp.concatenate([x, h]) @ params["W"] + params["b"]
            i, g, f, o = jnp.split(z, 4)
            c_new = jax.nn.sigmoid(f) * c + jax.nn.sigmoid(i) * jnp.tanh(g)
            h_new = jax.nn.sigmoid(o) * jnp.tanh(c_new)
            return (h_new, c_new), h_new
        """,
        "values",
        "expected",
    ),
    "concatenate([h, x]) in place of concatenate([x, h])": Mistake(
        "lstm_cell",
        """
        def lstm_cell(params, carry, x):
            h, c = carry
            z = jnp.concatenate([h, x]) @ params["W"] + params["b"]
            i, f, g, o = jnp.split(z, 4)
            c_new = jax.nn.sigmoid(f) * c + jax.nn.sigmoid(i) * jnp.tanh(g)
            h_new = jax.nn.sigmoid(o) * jnp.tanh(c_new)
            return (h_new, c_new), h_new
        """,
        "values",
        "expected",
    ),
    "the gate blocks sliced for H = 4 only": Mistake(
        "lstm_cell",
        """
        def lstm_cell(params, carry, x):
            h, c = carry
            z = jnp.concatenate([x, h]) @ params["W"] + params["b"]
            i, f, g, o = z[:4], z[4:8], z[8:12], z[12:16]
            c_new = jax.nn.sigmoid(f) * c + jax.nn.sigmoid(i) * jnp.tanh(g)
            h_new = jax.nn.sigmoid(o) * jnp.tanh(c_new)
            return (h_new, c_new), h_new
        """,
        "shape and dtype",
        "incompatible shapes for broadcasting: (4,), (3,)",
    ),
    "the carry unpacked as (c, h)": Mistake(
        "lstm_forward",
        """
        def lstm_forward(params, carry0, xs):
            def step(carry, x):
                c, h = carry
                (h, c), out = lstm_cell(params, (h, c), x)
                return (c, h), out

            return jax.lax.scan(step, carry0, xs)
        """,
        "values",
        "expected",
    ),
    "the cell state as the output": Mistake(
        "lstm_forward",
        """
        def lstm_forward(params, carry0, xs):
            def step(carry, x):
                carry, _ = lstm_cell(params, carry, x)
                return carry, carry[1]

            return jax.lax.scan(step, carry0, xs)
        """,
        "values",
        "hs: 20 of 20 entries differ",
    ),
    "a Python loop over the LSTM's steps": Mistake(
        "lstm_forward",
        """
        def lstm_forward(params, carry0, xs):
            carry, hs = carry0, []
            for t in range(xs.shape[0]):
                carry, h = lstm_cell(params, carry, xs[t])
                hs.append(h)
            return carry, jnp.stack(hs)
        """,
        "uses scan",
        "no loop",
    ),
    "hs time-major, (T, B, H)": Mistake(
        # Only a bare shape message: no hint that two axes are swapped.
        "batched_rnn_forward",
        """
        def batched_rnn_forward(params, h0, xs):
            hs0 = jnp.broadcast_to(h0, (xs.shape[0], h0.shape[0]))
            step = jax.vmap(rnn_cell, in_axes=(None, 0, 0))
            return jax.lax.scan(lambda h, x: step(params, h, x), hs0, jnp.swapaxes(xs, 0, 1))
        """,
        "shape and dtype",
        "hs: expected shape (2, 4, 4), got (4, 2, 4)",
    ),
    "vmap over the time axis": Mistake(
        "batched_rnn_forward",
        """
        def batched_rnn_forward(params, h0, xs):
            return jax.vmap(rnn_forward, in_axes=(None, None, 1))(params, h0, xs)
        """,
        "shape and dtype",
        "h_T: expected shape (2, 4), got (4, 4)",
    ),
    "the shared h0 mapped over": Mistake(
        "batched_rnn_forward",
        """
        def batched_rnn_forward(params, h0, xs):
            return jax.vmap(rnn_forward, in_axes=(None, 0, 0))(params, h0, xs)
        """,
        "shape and dtype",
        "vmap got inconsistent sizes",
    ),
    "a mean over the steps only": Mistake(
        "rnn_regression_loss",
        """
        def rnn_regression_loss(params, readout, h0, xs, ys):
            _, hs = rnn_forward(params, h0, xs)
            return jnp.mean((hs @ readout["W"] + readout["b"] - ys) ** 2, axis=0)
        """,
        "shape and dtype",
        "a missing mean?",
    ),
    "a sum over the outputs, a mean over the steps": Mistake(
        "rnn_regression_loss",
        """
        def rnn_regression_loss(params, readout, h0, xs, ys):
            _, hs = rnn_forward(params, h0, xs)
            return jnp.mean(jnp.sum((hs @ readout["W"] + readout["b"] - ys) ** 2, axis=-1))
        """,
        "values",
        "O = 2 times the expected value",
    ),
    "half the mean squared error, as optax.l2_loss gives": Mistake(
        # The grader's hint names 1/O (O = 2) here, not the factor 1/2.
        "rnn_regression_loss",
        """
        def rnn_regression_loss(params, readout, h0, xs, ys):
            _, hs = rnn_forward(params, h0, xs)
            return 0.5 * jnp.mean((hs @ readout["W"] + readout["b"] - ys) ** 2)
        """,
        "values",
        "expected",
    ),
    "the loss on the last state only": Mistake(
        "rnn_regression_loss",
        """
        def rnn_regression_loss(params, readout, h0, xs, ys):
            h_T, _ = rnn_forward(params, h0, xs)
            return jnp.mean((h_T @ readout["W"] + readout["b"] - ys) ** 2)
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
    "Flax's OptimizedLSTMCell: a dense map per gate": """
        def lstm_cell(params, carry, x):
            # Flax keeps a Dense per gate, ii/if/ig/io on the input and hi/hf/hg/ho on
            # the hidden state: here the blocks of the course's W and b.
            h, c = carry
            D, H = x.shape[0], h.shape[0]
            W_i, W_h = params["W"][:D], params["W"][D:]

            def dense(k):
                block = slice(k * H, (k + 1) * H)
                return x @ W_i[:, block] + h @ W_h[:, block] + params["b"][block]

            i = jax.nn.sigmoid(dense(0))
            f = jax.nn.sigmoid(dense(1))
            g = jnp.tanh(dense(2))
            o = jax.nn.sigmoid(dense(3))
            new_c = f * c + i * g
            new_h = o * jnp.tanh(new_c)
            return (new_h, new_c), new_h
        """,
    "Haiku's LSTM and dynamic_unroll: one linear map, the gates reshaped": """
        def lstm_cell(params, carry, x):
            # Haiku's own gate order is i, g, f, o; the course's is i, f, g, o.
            prev_h, prev_c = carry
            x_and_h = jnp.concatenate([x, prev_h], axis=-1)
            gated = jnp.dot(x_and_h, params["W"]) + params["b"]
            i, f, g, o = gated.reshape(4, -1)
            c = jax.nn.sigmoid(f) * prev_c + jax.nn.sigmoid(i) * jnp.tanh(g)
            h = jax.nn.sigmoid(o) * jnp.tanh(c)
            return (h, c), h

        def lstm_forward(params, carry0, xs):
            return jax.lax.scan(lambda state, x: lstm_cell(params, state, x), carry0, xs)
        """,
    "Keras's SimpleRNNCell: kernel, bias, then recurrent_kernel": """
        def rnn_cell(params, h, x):
            output = jnp.dot(x, params["W_xh"]) + params["b_h"]
            output = output + jnp.dot(h, params["W_hh"])
            output = jnp.tanh(output)
            return output, output
        """,
    "lax.scan's unroll option: two steps per iteration": """
        import functools

        def rnn_forward(params, h0, xs):
            return jax.lax.scan(lambda h, x: rnn_cell(params, h, x), h0, xs, unroll=2)

        def lstm_forward(params, carry0, xs):
            return jax.lax.scan(functools.partial(lstm_cell, params), carry0, xs, unroll=2)
        """,
    "equinox: filter_jit and filter_vmap": """
        import equinox as eqx

        @eqx.filter_jit
        def rnn_forward(params, h0, xs):
            def scan_fn(state, x):
                return rnn_cell(params, state, x)

            return jax.lax.scan(scan_fn, h0, xs)

        def batched_rnn_forward(params, h0, xs):
            return eqx.filter_vmap(rnn_forward, in_axes=(None, None, 0))(params, h0, xs)
        """,
    "time-major data, as PyTorch's nn.RNN defaults to: vmap over axis 1": """
        def batched_rnn_forward(params, h0, xs):
            time_major = jnp.transpose(xs, (1, 0, 2))
            forward = jax.vmap(rnn_forward, in_axes=(None, None, 1), out_axes=(0, 0))
            return forward(params, h0, time_major)
        """,
    "optax.squared_error": """
        import optax

        def rnn_regression_loss(params, readout, h0, xs, ys):
            _, hs = rnn_forward(params, h0, xs)
            predictions = hs @ readout["W"] + readout["b"]
            return optax.squared_error(predictions, ys).mean()
        """,
    "optax.l2_loss (half the squared error) and a vmapped readout": """
        import optax

        def rnn_regression_loss(params, readout, h0, xs, ys):
            _, hs = rnn_forward(params, h0, xs)
            predictions = jax.vmap(lambda h: h @ readout["W"] + readout["b"])(hs)
            return 2.0 * jnp.mean(optax.l2_loss(predictions, ys))
        """,
    "a carry flattened with tree_util, as generic RNN wrappers do": """
        def lstm_forward(params, carry0, xs):
            leaves, treedef = jax.tree_util.tree_flatten(carry0)

            def step(flat, x):
                carry, h = lstm_cell(params, jax.tree_util.tree_unflatten(treedef, flat), x)
                return jax.tree_util.tree_leaves(carry), h

            flat, hs = jax.lax.scan(step, leaves, xs)
            return jax.tree_util.tree_unflatten(treedef, flat), hs
        """,
    "lax.scan(reverse=True) over the flipped sequence": """
        def rnn_forward(params, h0, xs):
            # reverse=True runs from the end of its xs: fed the sequence backwards, it
            # steps forward in time, and stacks its outputs backwards too.
            h_T, hs_backwards = jax.lax.scan(
                lambda h, x: rnn_cell(params, h, x), h0, jnp.flip(xs, axis=0), reverse=True
            )
            return h_T, jnp.flip(hs_backwards, axis=0)
        """,
}


@pytest.mark.parametrize("name", list(MISTAKES))
def test_mistake_loses_points_on_its_function(name, grade_here):
    assert_mistake_caught(grade_here, "scan_rnn", MISTAKES[name])


@pytest.mark.parametrize("name", list(ALTERNATIVES))
def test_correct_alternative_scores_full_marks(name, grade_here):
    assert_full_marks(grade_here, "scan_rnn", ALTERNATIVES[name])
