"""Recurrent networks unrolled with `jax.lax.scan`.

A recurrent network applies one cell to each step of a sequence, threading a
hidden state through. `jax.lax.scan(cell, h0, xs)` is exactly that loop: the cell
takes `(carry, x_t)` and returns `(new_carry, output_t)`, scan stacks the outputs,
and the cell is traced once however long the sequence is. Gradients flow back
through every step (backpropagation through time).

`params = {"W_xh": (D, H), "W_hh": (H, H), "b_h": (H,)}` for the plain RNN.
"""

import jax
import jax.numpy as jnp


def rnn_cell(
    params: dict[str, jax.Array], h: jax.Array, x: jax.Array
) -> tuple[jax.Array, jax.Array]:
    """One step of a plain (Elman) RNN: h_new = tanh(x @ W_xh + h @ W_hh + b_h).

    Args:
      params: {"W_xh": (D, H), "W_hh": (H, H), "b_h": (H,)}.
      h: (H,), the hidden state.
      x: (D,), the input of this step.

    Returns:
      `(h_new, h_new)`: the new carry and this step's output, both (H,), ready
      for `jax.lax.scan`.

    Hint: mind the order of the products: `h @ W_hh`, not `W_hh @ h`.
    """
    ### BEGIN SOLUTION
    h_new = jnp.tanh(x @ params["W_xh"] + h @ params["W_hh"] + params["b_h"])
    return h_new, h_new
    ### END SOLUTION


def rnn_forward(
    params: dict[str, jax.Array], h0: jax.Array, xs: jax.Array
) -> tuple[jax.Array, jax.Array]:
    """Runs the RNN over a sequence with `jax.lax.scan`.

    Args:
      params: as for `rnn_cell`.
      h0: (H,), the initial hidden state.
      xs: (T, D), the inputs.

    Returns:
      `(h_T, hs)`: the last hidden state (H,) and `hs: (T, H)`, the hidden state
      after each step (h0 is not included).

    Hint: `jax.lax.scan(lambda h, x: rnn_cell(params, h, x), h0, xs)`. A Python loop
    would trace T copies of the cell.
    """

    ### BEGIN SOLUTION
    def step(h, x):
        return rnn_cell(params, h, x)

    return jax.lax.scan(step, h0, xs)
    ### END SOLUTION


def lstm_cell(
    params: dict[str, jax.Array], carry: tuple[jax.Array, jax.Array], x: jax.Array
) -> tuple[tuple[jax.Array, jax.Array], jax.Array]:
    """One step of an LSTM.

        z = concatenate([x, h]) @ W + b, split into four H-blocks i, f, g, o
        i, f, o = sigmoid(i), sigmoid(f), sigmoid(o);  g = tanh(g)
        c_new = f * c + i * g
        h_new = o * tanh(c_new)

    Args:
      params: {"W": (D + H, 4H), "b": (4H,)}.
      carry: `(h, c)`, each (H,).
      x: (D,).

    Returns:
      `((h_new, c_new), h_new)`.

    Hint: the blocks come in the order i, f, g, o: `jnp.split(z, 4)`.
    """
    ### BEGIN SOLUTION
    h, c = carry
    z = jnp.concatenate([x, h]) @ params["W"] + params["b"]
    i, f, g, o = jnp.split(z, 4)
    i, f, o = jax.nn.sigmoid(i), jax.nn.sigmoid(f), jax.nn.sigmoid(o)
    g = jnp.tanh(g)
    c_new = f * c + i * g
    h_new = o * jnp.tanh(c_new)
    return (h_new, c_new), h_new
    ### END SOLUTION


def lstm_forward(
    params: dict[str, jax.Array], carry0: tuple[jax.Array, jax.Array], xs: jax.Array
) -> tuple[tuple[jax.Array, jax.Array], jax.Array]:
    """Runs the LSTM over a sequence with `jax.lax.scan`.

    Args:
      params: as for `lstm_cell`.
      carry0: `(h0, c0)`, each (H,).
      xs: (T, D).

    Returns:
      `((h_T, c_T), hs)` with `hs: (T, H)`.
    """

    ### BEGIN SOLUTION
    def step(carry, x):
        return lstm_cell(params, carry, x)

    return jax.lax.scan(step, carry0, xs)
    ### END SOLUTION


def batched_rnn_forward(
    params: dict[str, jax.Array], h0: jax.Array, xs: jax.Array
) -> tuple[jax.Array, jax.Array]:
    """Runs the RNN over a batch of sequences, all from the same h0, with `jax.vmap`.

    Args:
      params: as for `rnn_cell`.
      h0: (H,), shared by every sequence.
      xs: (B, T, D).

    Returns:
      `(h_T, hs)` with `h_T: (B, H)` and `hs: (B, T, H)`.

    Hint: `jax.vmap(rnn_forward, in_axes=(None, None, 0))`: vmap over a scan.
    """
    ### BEGIN SOLUTION
    return jax.vmap(rnn_forward, in_axes=(None, None, 0))(params, h0, xs)
    ### END SOLUTION


def rnn_regression_loss(
    params: dict[str, jax.Array],
    readout: dict[str, jax.Array],
    h0: jax.Array,
    xs: jax.Array,
    ys: jax.Array,
) -> jax.Array:
    """The mean squared error of a linear readout of the RNN's hidden states.

        predictions = hs @ W + b,   loss = mean over all T * O entries of (predictions - ys) ** 2

    Args:
      params: as for `rnn_cell`.
      readout: {"W": (H, O), "b": (O,)}.
      h0: (H,).
      xs: (T, D).
      ys: (T, O), the targets.

    Returns:
      A scalar. Its gradient flows back through every step of the scan
      (backpropagation through time): do not stop it at the carry.
    """
    ### BEGIN SOLUTION
    _, hs = rnn_forward(params, h0, xs)
    predictions = hs @ readout["W"] + readout["b"]
    return jnp.mean((predictions - ys) ** 2)
    ### END SOLUTION
