"""Models used by the nn tests (the parser reads model source from files)."""

import jax.numpy as jnp

import ppgraph as pg
from ppgraph import dist, nn


@pg.model
def regression(x):
    net <~ nn.Serial(nn.Dense(4, dist.Normal(0.0, 1.0)), nn.Tanh(), nn.Dense(1, dist.Normal(0.0, 1.0)))
    mu = net(x)[..., 0]
    y <~ dist.Normal(mu, 0.5)
    return y


@pg.model
def hierarchical(images):
    scale <~ dist.Exponential(2.0)
    net <~ nn.Serial(nn.Dense(6, dist.Normal(0.0, scale)), nn.Relu(),
                     nn.Dense(3, dist.Normal(0.0, scale)), nn.LogSoftmax())
    logits = net(images)
    label <~ dist.Categorical(logits=logits)
    return label


@pg.model
def per_input_scale(x):
    s <~ dist.HalfNormal(1.0).expand([3, 1])
    net <~ nn.Dense(2, kernel_prior=dist.Normal(0.0, s), bias_prior=dist.Cauchy(0.0, 2.0))
    out = net(x)
    y <~ dist.Normal(out, 1.0)
    return y


@pg.model
def two_inputs(a, b):
    net <~ nn.Dense(2, dist.Normal(0.0, 1.0))
    u = net(a)
    v = net(b)
    return v


@pg.model
def nested_call(x):
    net <~ nn.Dense(3, dist.Normal(0.0, 1.0))
    h = net(net(x))
    return h


@pg.model
def unused_layer():
    net <~ nn.Dense(3, dist.Normal(0.0, 1.0))
    return net


@pg.model
def no_prior(x):
    net <~ nn.Dense(3)
    out = net(x)
    return out


@pg.model
def bad_broadcast(x):
    net <~ nn.Dense(2, dist.Normal(jnp.zeros(5), 1.0))
    out = net(x)
    return out


@pg.model
def trainable_bias(x):
    net <~ nn.Dense(2, dist.Normal(0.0, 1.0), bias_prior=nn.TRAINABLE)
    out = net(x)
    y <~ dist.Normal(out, 1.0)
    return y


@pg.model
def two_layers(x):
    first <~ nn.Dense(3, dist.Normal(0.0, 1.0))
    second <~ nn.Dense(3, dist.Normal(0.0, 1.0))
    out = first(x) + second(x)
    return out


@pg.model
def conv(images):
    net <~ nn.Serial(nn.Conv2D(2, 3, dist.Normal(0.0, 1.0)), nn.Relu(), nn.Flatten(),
                     nn.Dense(3, dist.Normal(0.0, 1.0)), nn.Softmax())
    probs = net(images)
    label <~ dist.Categorical(probs=probs)
    return label


@pg.model
def tiny_bnn(x):
    scale <~ dist.HalfNormal(1.0)
    net <~ nn.Serial(nn.Dense(3, dist.Normal(0.0, scale)), nn.Tanh(), nn.Dense(1, dist.Normal(0.0, scale)))
    mu = net(x)[..., 0]
    y <~ dist.Normal(mu, 0.1)
    return y


class Scale(nn.Layer):
    """A user-written layer: y = x * w, one weight per feature."""

    weight_names = ("w",)

    def weight_shapes(self, input_shape):
        return {"w": input_shape[-1:]}

    def forward(self, weights, x):
        return x * weights["w"]


@pg.model
def custom(x):
    net <~ nn.Serial(Scale(dist.Normal(1.0, 0.1)), nn.Dense(2, dist.Normal(0.0, 1.0)))
    out = net(x)
    y <~ dist.Normal(out, 1.0)
    return y


def built_hierarchical():
    """The same graph as `hierarchical`, built with pg.GraphBuilder."""
    g = pg.GraphBuilder("hierarchical")
    images = g.argument("images")
    scale = g.random("scale", dist.Exponential, 2.0)
    spec = g.call(nn.Serial, g.call(nn.Dense, 6, g.call(dist.Normal, 0.0, scale)), g.call(nn.Relu),
                  g.call(nn.Dense, 3, g.call(dist.Normal, 0.0, scale)), g.call(nn.LogSoftmax))
    net = g.layer("net", spec)
    logits = g.deterministic("logits", net(images))
    label = g.random("label", dist.Categorical, logits=logits)
    g.returns(label)
    return g.build()
