"""Soft Actor-Critic, written for speed, read top to bottom (CleanRL style).

What makes it fast without making it obscure:
- the twin Q networks are one ensemble: one batched matrix product (``torch.bmm``) per
  layer evaluates both, instead of two separate networks;
- each network keeps all its weights in one flat parameter, so an Adam step and the soft
  target update are one kernel each, whatever the depth;
- the update computes its gradients by hand (the backward pass of a ReLU MLP and of the
  tanh-Gaussian head, a few lines each) instead of recording an autograd graph: at small
  widths that recording costs more than the arithmetic. The losses are also written out
  below with autograd (``critic_loss``, ``actor_loss``, ``alpha_loss``) as the definition;
  ``tests/test_sac.py`` checks that the hand-computed gradients equal theirs;
- the small steps (sampling, the log-probability, the policy head's backward, the losses)
  are fused and in-place operations: at width 64 each operation's fixed cost, a few
  microseconds, is more than its arithmetic, and the update is about 150 of them;
- gradients and hidden activations are written into buffers allocated once, so a wide
  network allocates no new megabytes (and takes no page faults) at each step;
- the replay buffer is preallocated tensors on the training device, sampled by index;
- an update returns its losses as tensors: nothing waits on ``.item()`` inside the loop.

Update order (as in METRA's code, which runs on this SAC): critic step, then actor and
temperature steps (one optimizer: their gradients are independent), soft target update.
Losses: critic ``0.5 * MSE`` per Q network, summed; actor ``mean(alpha * log_pi - min Q)``;
temperature ``-mean(log_alpha * (log_pi + target))``. Initialisation and the policy's
log-std bounds follow METRA's code too (see ``EnsembleMLP``, ``TanhGaussianActor``, ``SAC``).
"""

from __future__ import annotations

import copy
import functools
import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

# The policy's log standard deviation is clamped to [log 1e-6, 2], as METRA's policy module
# (garage's ``min_std=1e-6``, and ``max_std=e^2`` set by the authors' main.py); CleanRL's
# floor is -5, which keeps the policy's standard deviation above 0.0067.
LOG_STD_MIN, LOG_STD_MAX = math.log(1e-6), 2.0
# The policy's output layers start at a tenth of Xavier-normal's scale (the authors'
# ``xavier_normal_ex(gain=1, multiplier=0.1)``): near-zero means and log standard deviations.
POLICY_OUTPUT_INIT_SCALE = 0.1
# From this width on the CPU the actor's gradient goes back through each sample's lower
# critic only (see ``SAC.backprop_chosen_critic``).
CHOSEN_CRITIC_MIN_WIDTH = 512
# One fused kernel per optimizer step instead of a loop of small ops per parameter.
ADAM = {"fused": True}


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"``: CUDA when present, else the CPU."""
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            f"device {str(device)!r} asked for, but this machine's torch sees no CUDA device; "
            "use 'auto' or 'cpu'"
        )
    return device


def adam_step(optimizer: torch.optim.Adam) -> None:
    """``optimizer.step()`` as torch's fused Adam kernel on the optimizer's own state,
    called directly: ``Optimizer.step`` and the functional ``adam`` first group the
    tensors by device and dtype, which takes longer than the kernel itself for a small
    network (18 against 8 microseconds at width 64). One group of parameters on one device,
    as every optimizer here has; ``tests/test_sac.py`` checks the step equals ``step()``."""
    group = optimizer.param_groups[0]
    params = group["params"]
    states = [optimizer.state.get(p) for p in params]
    if not all(states):
        optimizer.step()  # the first step creates the state
        return
    steps = [s["step"] for s in states]
    beta1, beta2 = group["betas"]
    torch._foreach_add_(steps, 1)
    torch._fused_adam_(
        params, [p.grad for p in params], [s["exp_avg"] for s in states],
        [s["exp_avg_sq"] for s in states], [], steps, amsgrad=False, lr=group["lr"],
        beta1=beta1, beta2=beta2, weight_decay=group["weight_decay"], eps=group["eps"],
        maximize=False, grad_scale=None, found_inf=None,
    )  # fmt: skip


def without_autograd(method: Callable) -> Callable:
    """Like ``@torch.no_grad()``, but free when autograd is already off (inside
    :meth:`SAC.update`): entering the context costs a few microseconds, and a small
    update calls twenty such methods."""

    @functools.wraps(method)
    def wrapper(*args, **kwargs):
        if not torch.is_grad_enabled():
            return method(*args, **kwargs)
        with torch.no_grad():
            return method(*args, **kwargs)

    return wrapper


def scaled_xavier_normal_(weight: torch.Tensor, scale: float = POLICY_OUTPUT_INIT_SCALE) -> None:
    """Xavier-normal weights (gain 1) times ``scale``: standard deviation
    ``scale * sqrt(2 / (fan_in + fan_out))`` for a weight of shape (fan_out, fan_in)."""
    fan_out, fan_in = weight.shape
    weight.normal_(0.0, scale * math.sqrt(2.0 / (fan_in + fan_out)))


def gradient_buffer(parameter: torch.Tensor) -> torch.Tensor:
    """The parameter's ``.grad``, allocated once and then overwritten in place."""
    if parameter.grad is None:
        parameter.grad = torch.zeros_like(parameter)
    return parameter.grad


class EnsembleMLP(nn.Module):
    """``members`` ReLU MLPs of one shape, evaluated together by batched matrix products.

    All weights live in one flat parameter; :meth:`layer_weights` views it as
    ``(weight (members, out, in), bias (members, 1, out))`` per layer. That is
    ``nn.Linear``'s layout: with (in, out), MKL's batched products for the narrow layers
    (a Q value, the policy head) were up to 6x slower.
    Input ``(batch, in)`` (shared by every member) or ``(members, batch, in)``; output
    ``(members, batch, out)``.

    Initialisation as METRA's code (garage's MLP modules): biases zero, each member's
    weights drawn by ``hidden_init`` (hidden layers) and ``output_init`` (the last layer),
    functions that fill a 2-D ``(out, in)`` weight in place; default Xavier-uniform for both.
    """

    def __init__(
        self,
        input_dim: int,
        hidden: int,
        layers: int,
        output_dim: int,
        members: int = 1,
        hidden_init: Callable[[torch.Tensor], object] = nn.init.xavier_uniform_,
        output_init: Callable[[torch.Tensor], object] = nn.init.xavier_uniform_,
    ) -> None:
        super().__init__()
        self.members = members
        self.shapes = list(itertools.pairwise([input_dim] + [hidden] * layers + [output_dim]))
        size = sum(members * (n_in + 1) * n_out for n_in, n_out in self.shapes)
        self.flat = nn.Parameter(torch.empty(size))
        self._views: dict[int, list[tuple[torch.Tensor, ...]]] = {}
        self._scratch_tensors: dict[str, torch.Tensor] = {}
        with torch.no_grad():
            weights = self.layer_weights()
            for i, (weight, bias) in enumerate(weights):
                init = output_init if i == len(weights) - 1 else hidden_init
                for member_weight in weight:  # one 2-D (out, in) weight per member: its fans
                    init(member_weight)
                bias.zero_()

    def layer_weights(self, flat: torch.Tensor | None = None) -> list[tuple[torch.Tensor, ...]]:
        """Per layer (weight, bias) as views of ``flat`` (default: the parameter itself; pass
        its gradient to get the gradient's views)."""
        flat = self.flat if flat is None else flat
        views, offset = [], 0
        for n_in, n_out in self.shapes:
            weight = flat[offset : offset + self.members * n_in * n_out]
            offset += weight.numel()
            bias = flat[offset : offset + self.members * n_out]
            offset += bias.numel()
            views.append(
                (weight.view(self.members, n_out, n_in), bias.view(self.members, 1, n_out))
            )
        return views

    @without_autograd
    def _views_of(self, tensor: torch.Tensor) -> list[tuple[torch.Tensor, ...]]:
        """:meth:`layer_weights` of ``tensor`` (the parameter or its gradient) with each
        weight's transpose, ``(weight, bias, weight (members, in, out))``, built once:
        slicing anew at every step costs more than a small layer's arithmetic. Rebuilt when
        the tensor moves (``.to(device)``)."""
        key = tensor.data_ptr()
        if key not in self._views:
            if len(self._views) >= 2:  # the parameter and its gradient; drop stale ones
                self._views.clear()
            self._views[key] = [
                (weight, bias, weight.transpose(1, 2))
                for weight, bias in self.layer_weights(tensor)
            ]
        return self._views[key]

    def _scratch(self, name: str, shape: tuple[int, ...], like: torch.Tensor) -> torch.Tensor:
        """A tensor kept under ``name`` and reused while the shape holds: a wide network's
        activations are megabytes, and allocating them afresh at every step costs page
        faults (a fifth of the update's time at width 1024 on a CPU)."""
        buffer = self._scratch_tensors.get(name)
        if buffer is None or buffer.shape != shape or buffer.device != like.device:
            buffer = torch.empty(shape, dtype=like.dtype, device=like.device)
            self._scratch_tensors[name] = buffer
        return buffer

    def _members(self, x: torch.Tensor) -> torch.Tensor:
        return x.expand(self.members, -1, -1) if x.dim() == 2 else x

    def forward(self, x: torch.Tensor, detach_weights: bool = False) -> torch.Tensor:
        """Differentiable forward pass (``detach_weights``: gradients reach the input only)."""
        weights = self.layer_weights(self.flat.detach() if detach_weights else None)
        x = self._members(x)
        for i, (weight, bias) in enumerate(weights):
            x = torch.baddbmm(bias, x, weight.transpose(1, 2))
            if i < len(weights) - 1:
                x = F.relu(x)
        return x

    @without_autograd
    def forward_keeping_inputs(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Forward pass that also returns every layer's input, for :meth:`backward`.

        The hidden activations live in scratch buffers that the next call overwrites:
        backpropagate before running the network forward again."""
        weights = self._views_of(self.flat)
        x = self._members(x)
        inputs = []
        for i, (weight, bias, weight_t) in enumerate(weights):
            inputs.append(x)
            if i < len(weights) - 1:
                hidden = self._scratch(
                    f"hidden{i}", (self.members, x.shape[1], weight_t.shape[2]), x
                )
                x = torch.bmm(x, weight_t, out=hidden).add_(bias).relu_()
            elif weight.shape[1] == 1:
                # One output (a Q value): weight @ x^T is a matrix-vector product MKL runs
                # 1.5-4x faster than x @ weight^T, and its (members, 1, batch) result is
                # already laid out as (members, batch, 1).
                x = torch.baddbmm(bias, weight, x.transpose(1, 2)).view(self.members, -1, 1)
            else:
                x = torch.baddbmm(bias, x, weight_t)
        return x, inputs

    @without_autograd
    def backward(
        self,
        inputs: list[torch.Tensor],
        grad_output: torch.Tensor,
        weight_grads: bool = True,
        input_grad: bool = False,
    ) -> torch.Tensor | None:
        """Backpropagate ``grad_output`` (d loss / d output) through the pass that kept
        ``inputs``. ``weight_grads``: write d loss / d flat into ``self.flat.grad``;
        ``input_grad``: return d loss / d input, shape ``(members, batch, in)``."""
        weights = self._views_of(self.flat)
        grads = self._views_of(gradient_buffer(self.flat)) if weight_grads else None
        grad = grad_output
        for i in reversed(range(len(weights))):
            x, (weight, _, weight_t) = inputs[i], weights[i]
            # With few inputs (the first layer: an observation and an action), MKL computes
            # (out x batch) @ (batch x in) and (batch x out) @ (out x in) up to 10x slower
            # than their transposes, so those are computed and transposed back.
            few_inputs = weight.shape[2] < 16
            if grads is not None:
                if few_inputs:
                    grads[i][0].copy_(torch.bmm(x.transpose(1, 2), grad).transpose(1, 2))
                else:
                    torch.bmm(grad.transpose(1, 2), x, out=grads[i][0])
                torch.sum(grad, 1, keepdim=True, out=grads[i][1])
            if i == 0 and not input_grad:
                return None
            if i == 0:
                if few_inputs:
                    return torch.bmm(weight_t, grad.transpose(1, 2)).transpose(1, 2)
                return torch.bmm(grad, weight)
            grad_x = self._scratch(f"grad{i}", x.shape, x)
            if weight.shape[1] == 1:  # one output (a Q value): an outer product
                grad = torch.mul(grad, weight, out=grad_x)
            else:
                grad = torch.bmm(grad, weight, out=grad_x)
            # Through the ReLU whose output is x: pass where x > 0 (one fused op, in place).
            torch.ops.aten.threshold_backward.grad_input(grad, x, 0.0, grad_input=grad)
        return None

    @without_autograd
    def input_grad_of_chosen(
        self, inputs: list[torch.Tensor], chosen: torch.Tensor, grad_output: torch.Tensor
    ) -> torch.Tensor:
        """d loss / d input, shape ``(batch, in)``, for a loss that reads each sample's
        output from one member only, ``chosen[b]`` (``grad_output``: ``(batch, out)``, the
        gradient at that member's output). Each sample goes back through its own member:
        :meth:`backward` with the other members' rows all zero does twice the arithmetic.
        Indexing by a data-dependent row count waits for the device, so this is for the CPU."""
        weights = self._views_of(self.flat)
        grad_input = grad_output.new_empty(grad_output.shape[0], self.shapes[0][0])
        for member in range(self.members):
            rows = (chosen == member).nonzero().squeeze(1)
            if rows.numel() == 0:
                continue
            grad = grad_output[rows]
            for i in reversed(range(1, len(weights))):
                # Through layer i's weights, then through the ReLU whose output fed it.
                grad = grad @ weights[i][0][member]
                x = inputs[i][member].index_select(0, rows)
                torch.ops.aten.threshold_backward.grad_input(grad, x, 0.0, grad_input=grad)
            grad_input[rows] = grad @ weights[0][0][member]
        return grad_input


def mlp(input_dim: int, hidden: int, layers: int, output_dim: int) -> nn.Sequential:
    """A plain ReLU MLP, trained with autograd (METRA's phi). Xavier-uniform weights and
    zero biases in every layer, as the authors' trajectory encoder."""
    sizes = [input_dim] + [hidden] * layers
    modules: list[nn.Module] = []
    for a, b in itertools.pairwise(sizes):
        modules += [nn.Linear(a, b), nn.ReLU()]
    network = nn.Sequential(*modules, nn.Linear(sizes[-1], output_dim))
    for module in network:
        if isinstance(module, nn.Linear):
            nn.init.xavier_uniform_(module.weight)
            nn.init.zeros_(module.bias)
    return network


class TanhGaussianActor(nn.Module):
    """A tanh-squashed Gaussian policy scaled to the action box.

    Its log-probability is the density of the tanh output in [-1, 1]^d, before the scaling
    to the box, as in stable-baselines3 and METRA's code (whose policies act in [-1, 1] and
    whose environments rescale): a target entropy such as -|A| then means the same on any
    box. On the box's own scale a small box, [-0.2, 0.2]^2, cannot reach entropy -1 at all,
    and the temperature would grow without end.

    Initialised as the authors' policy (garage's two-headed Gaussian module): hidden layers
    Xavier-uniform; the mean and log-std heads, each ``(action_dim, hidden)``, Xavier-normal
    at a tenth of its scale; biases zero (the log-std's: log of an initial std of 1). The
    log standard deviation is clamped to ``[LOG_STD_MIN, LOG_STD_MAX]`` = [log 1e-6, 2].
    """

    def __init__(
        self,
        input_dim: int,
        action_dim: int,
        hidden: int,
        layers: int,
        low: torch.Tensor,
        high: torch.Tensor,
    ) -> None:
        super().__init__()
        self.net = EnsembleMLP(input_dim, hidden, layers, 2 * action_dim)
        with torch.no_grad():  # the two heads drawn apart: each with its own fan-out
            for head in self.net.layer_weights()[-1][0][0].split(action_dim):
                scaled_xavier_normal_(head)
        self.register_buffer("scale", (high - low) / 2)
        self.register_buffer("center", (high + low) / 2)

    def mean_and_log_std(self, inputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The Gaussian's mean and (unclamped) log standard deviation before the tanh."""
        mean, log_std = self._split(self.net(inputs.reshape(-1, inputs.shape[-1]))[0])
        shape = (*inputs.shape[:-1], -1)  # any leading shape, a single input included
        return mean.reshape(shape), log_std.reshape(shape)

    @staticmethod
    def _split(out: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        # Contiguous halves: exp and tanh on strided views take several times longer.
        mean, log_std = out.chunk(2, dim=-1)
        return mean.contiguous(), log_std.contiguous()

    def _sample(
        self, mean: torch.Tensor, raw_log_std: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, tuple[torch.Tensor, ...]]:
        log_std = torch.clamp(raw_log_std, LOG_STD_MIN, LOG_STD_MAX)
        std = log_std.exp()
        noise = torch.randn_like(mean)
        squashed = torch.tanh(mean + noise * std)
        slope = 1 - squashed.pow(2)  # d tanh / d pre-tanh
        log_prob = (-0.5 * noise.pow(2) - log_std - 0.5 * math.log(2 * math.pi)).sum(-1)
        log_prob = log_prob - torch.log(slope + 1e-6).sum(-1)
        return (
            squashed * self.scale + self.center,
            log_prob,
            (raw_log_std, noise, std, squashed, slope),
        )

    def forward(self, inputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """A sampled action and its log-probability (with the tanh correction)."""
        action, log_prob, _ = self._sample(*self.mean_and_log_std(inputs))
        return action, log_prob

    @without_autograd
    def sample_keeping_inputs(
        self, inputs: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, tuple]:
        """Like ``forward`` (the same draws, the same values), and what :meth:`backward`
        needs. ``_sample`` is the definition; this is it in fused and in-place operations,
        each of which costs a few microseconds at any small batch."""
        out, layer_inputs = self.net.forward_keeping_inputs(inputs)
        # Strided halves: clamp and addcmul read them at little extra cost and write
        # contiguous results, so no copies are made.
        mean, raw_log_std = out[0].chunk(2, dim=-1)
        log_std = raw_log_std.clamp(LOG_STD_MIN, LOG_STD_MAX)
        std = log_std.exp()
        noise = torch.randn_like(log_std)
        squashed = torch.addcmul(mean, noise, std).tanh_()
        # d tanh / d pre-tanh, 1 - tanh^2, and the log-determinant's argument.
        slope = torch.rsub(squashed.square(), 1)
        slope_plus_eps = slope + 1e-6
        # -log_prob = sum(0.5 noise^2 + log_std + log(slope + 1e-6)) + d/2 log(2 pi).
        negative_log_prob = slope_plus_eps.log().add_(log_std).addcmul_(noise, noise, value=0.5)
        log_prob = -0.5 * noise.shape[-1] * math.log(2 * math.pi) - negative_log_prob.sum(-1)
        action = torch.addcmul(self.center, squashed, self.scale)
        # For backward: d log_prob / d pre-tanh is 2 tanh * slope / (slope + 1e-6); d pre-tanh
        # / d log_std is noise * std; the clamp passes the gradient where it left log_std be.
        squashed_over_slope = squashed.div_(slope_plus_eps)
        kept = (slope, squashed_over_slope, noise.mul_(std), raw_log_std == log_std)
        return action, log_prob, (layer_inputs, kept)

    @staticmethod
    def first_rows(kept: tuple, rows: int) -> tuple:
        """What :meth:`backward` needs for the first ``rows`` samples of a batch only."""
        layer_inputs, sample = kept
        return [x[:, :rows] for x in layer_inputs], tuple(t[:rows] for t in sample)

    @without_autograd
    def backward(self, kept: tuple, grad_action: torch.Tensor, grad_log_prob: torch.Tensor) -> None:
        """Write d loss / d weights into ``net.flat.grad`` given d loss / d action, shape
        ``(batch, action_dim)``, and d loss / d log_prob, the same for every sample (a 0-dim
        tensor), of a :meth:`sample_keeping_inputs` (the noise held fixed)."""
        layer_inputs, (slope, squashed_over_slope, noise_std, log_std_free) = kept
        # pre-tanh u = mean + noise * std: the action is scale * tanh(u) + center, and
        # log_prob holds -log(1 - tanh(u)^2 + 1e-6).
        grad_pre = torch.addcmul(
            grad_action * self.scale, squashed_over_slope, grad_log_prob, value=2
        )
        grad_pre.mul_(slope)
        # log_prob holds -log_std directly and through u; clamp passes inside its bounds.
        grad_log_std = torch.mul(grad_pre, noise_std).sub_(grad_log_prob).mul_(log_std_free)
        self.net.backward(layer_inputs, torch.cat([grad_pre, grad_log_std], -1).unsqueeze(0))

    @torch.no_grad()
    def deterministic(self, inputs: torch.Tensor) -> torch.Tensor:
        mean, _ = self.mean_and_log_std(inputs)
        return torch.tanh(mean) * self.scale + self.center


class ReplayBuffer:
    """Transitions in one preallocated tensor on the training device (a ring buffer).

    Every field is a block of columns of the same ``(capacity, total width)`` tensor, so
    sampling a batch is one indexing operation (one per field cost a tenth of a small
    SAC update); ``data[name]`` and the sampled fields are views of those columns."""

    def __init__(self, capacity: int, fields: dict[str, int], device: torch.device) -> None:
        self.capacity, self.device = capacity, device
        self.columns: dict[str, slice] = {}
        start = 0
        for name, width in fields.items():
            self.columns[name] = slice(start, start + width)
            start += width
        self.widths = list(fields.values())  # for ``sample``'s one split into every field
        self.storage = torch.zeros(capacity, start, device=device)
        self.data = {name: self.storage[:, columns] for name, columns in self.columns.items()}
        self.position, self.size = 0, 0

    def add(self, **batch: torch.Tensor) -> None:
        """Append a batch of transitions: every field, shape (n, width)."""
        n = next(iter(batch.values())).shape[0]
        index = (self.position + torch.arange(n, device=self.device)) % self.capacity
        for name, values in batch.items():
            self.data[name][index] = torch.as_tensor(
                values, dtype=torch.float32, device=self.device
            ).reshape(n, -1)
        self.position = (self.position + n) % self.capacity
        self.size = min(self.size + n, self.capacity)

    def sample(self, batch_size: int) -> dict[str, torch.Tensor]:
        index = torch.randint(0, self.size, (batch_size,), device=self.device)
        rows = self.storage.index_select(0, index)
        return dict(zip(self.columns, rows.split(self.widths, dim=1), strict=True))


@dataclass
class SACLosses:
    critic: torch.Tensor
    actor: torch.Tensor
    alpha_loss: torch.Tensor
    alpha: torch.Tensor
    entropy: torch.Tensor
    q_mean: torch.Tensor


class SAC:
    """Soft Actor-Critic over flat inputs (observation, possibly with a skill appended).

    Args:
        input_dim: width of the policy and critic input (observation [+ skill]).
        action_low, action_high: the action box.
        hidden: units per hidden layer; layers: hidden layers (actor and critics alike).
        learning_rate: Adam step size of actor, critics and temperature.
        gamma: discount; tau: soft target update rate.
        initial_alpha: starting temperature; autotune: learn it towards ``target_entropy``
            (default ``-action_dim``; METRA uses ``-action_dim / 2``).
        device: ``"auto"`` picks CUDA when present.
    """

    def __init__(
        self,
        input_dim: int,
        action_low: torch.Tensor,
        action_high: torch.Tensor,
        hidden: int = 256,
        layers: int = 2,
        learning_rate: float = 3e-4,
        gamma: float = 0.99,
        tau: float = 5e-3,
        initial_alpha: float = 1.0,
        autotune: bool = True,
        target_entropy: float | None = None,
        device: str | torch.device = "auto",
    ) -> None:
        self.device = resolve_device(device)
        low = torch.as_tensor(action_low, dtype=torch.float32, device=self.device)
        high = torch.as_tensor(action_high, dtype=torch.float32, device=self.device)
        self.action_dim = low.numel()
        self.gamma, self.tau, self.autotune = gamma, tau, autotune
        self.target_entropy = -float(self.action_dim) if target_entropy is None else target_entropy
        self.actor = TanhGaussianActor(input_dim, self.action_dim, hidden, layers, low, high).to(
            self.device
        )
        # The authors' Q functions are garage MLPs with their default Xavier-normal weights
        # (the policy and phi: Xavier-uniform).
        self.critic = EnsembleMLP(
            input_dim + self.action_dim, hidden, layers, 1, members=2,
            hidden_init=nn.init.xavier_normal_, output_init=nn.init.xavier_normal_,
        ).to(self.device)  # fmt: skip
        self.critic_target = copy.deepcopy(self.critic).requires_grad_(False)
        # The actor's loss reads, per sample, only the lower of the two Q values. Sending
        # each sample back through that critic alone halves the arithmetic of the actor
        # step's input gradients; it pays on the CPU from about width 512 (4% at 1024),
        # while smaller networks lose more to the extra small operations than they save.
        self.backprop_chosen_critic = (
            self.device.type == "cpu" and hidden >= CHOSEN_CRITIC_MIN_WIDTH
        )
        self.log_alpha = torch.tensor(
            math.log(initial_alpha), device=self.device, requires_grad=True
        )
        # The actor and the temperature share one optimizer and one backward pass: their
        # losses touch disjoint parameters (each uses the other's value detached), so this
        # equals two separate Adam steps, at half the per-step overhead.
        actor_parameters = [*self.actor.parameters(), *([self.log_alpha] if autotune else [])]
        self.actor_optimizer = torch.optim.Adam(actor_parameters, lr=learning_rate, **ADAM)
        self.critic_optimizer = torch.optim.Adam(self.critic.parameters(), lr=learning_rate, **ADAM)

    def set_learning_rate(self, learning_rate: float) -> None:
        for optimizer in (self.actor_optimizer, self.critic_optimizer):
            for group in optimizer.param_groups:
                group["lr"] = learning_rate

    @torch.no_grad()
    def act(self, inputs: torch.Tensor, deterministic: bool = False) -> torch.Tensor:
        inputs = torch.as_tensor(inputs, dtype=torch.float32, device=self.device)
        return self.actor.deterministic(inputs) if deterministic else self.actor(inputs)[0]

    @staticmethod
    def q_values(
        critic: EnsembleMLP,
        inputs: torch.Tensor,
        actions: torch.Tensor,
        detach_weights: bool = False,
    ) -> torch.Tensor:
        """Q of every member, shape (members, batch)."""
        return critic(torch.cat([inputs, actions], -1), detach_weights).squeeze(-1)

    def critic_loss(
        self, batch: dict[str, torch.Tensor], rewards: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``0.5 * MSE`` of each Q network against the soft target, summed; and mean Q."""
        with torch.no_grad():
            next_actions, next_log_prob = self.actor(batch["next_inputs"])
            next_q = (
                self.q_values(self.critic_target, batch["next_inputs"], next_actions).min(0).values
            )
            alpha = self.log_alpha.exp()
            target = rewards + self.gamma * (1 - batch["terminated"].squeeze(-1)) * (
                next_q - alpha * next_log_prob
            )
        q = self.q_values(self.critic, batch["inputs"], batch["actions"])
        return 0.5 * ((q - target) ** 2).mean(-1).sum(), q.mean()

    def actor_loss(self, inputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``mean(alpha * log_pi - min Q)`` (critic weights detached); and log_pi."""
        actions, log_prob = self.actor(inputs)
        q = self.q_values(self.critic, inputs, actions, detach_weights=True).min(0).values
        return (self.log_alpha.exp().detach() * log_prob - q).mean(), log_prob

    def alpha_loss(self, log_prob: torch.Tensor) -> torch.Tensor:
        return -(self.log_alpha * (log_prob.detach() + self.target_entropy)).mean()

    def update(
        self, batch: dict[str, torch.Tensor], rewards: torch.Tensor | None = None
    ) -> SACLosses:
        """One gradient step of critics, actor and temperature, then the target update.

        ``batch`` holds ``inputs``, ``actions``, ``next_inputs``, ``terminated`` and, unless
        ``rewards`` is given (METRA recomputes them), ``rewards``. ``terminated`` is the mask
        of targets without ``gamma * V(s')``: 1 at a terminal state and, as METRA's authors
        run it, at a trajectory's last step (see :meth:`SkillDiscovery.update`).

        Gradients are computed by hand: they equal those of :meth:`critic_loss`,
        :meth:`actor_loss` and :meth:`alpha_loss` (tested), without an autograd graph.
        """
        rewards = batch["rewards"].squeeze(-1) if rewards is None else rewards
        inputs, batch_size = batch["inputs"], batch["inputs"].shape[0]
        with torch.no_grad():
            alpha = self.log_alpha.exp()
            # The actor does not change before its own step, so one pass samples both the
            # actions for its loss (first rows, kept for the backward pass) and the next
            # actions for the critic's target.
            sampled, sampled_log_prob, actor_kept = self.actor.sample_keeping_inputs(
                torch.cat([inputs, batch["next_inputs"]])
            )
            actions, next_actions = sampled.split(batch_size)
            log_prob, next_log_prob = sampled_log_prob.split(batch_size)
            actor_kept = self.actor.first_rows(actor_kept, batch_size)

            # Critic: d/dQ_m of 0.5 * sum_m mean_b (Q_m - y)^2 is (Q_m - y) / batch.
            next_q, _ = self.critic_target.forward_keeping_inputs(
                torch.cat([batch["next_inputs"], next_actions], -1)
            )
            # y = r + gamma * (1 - terminated) * (min_m Q'_m - alpha * log_pi'), fused.
            next_value = torch.addcmul(next_q.squeeze(-1).amin(0), alpha, next_log_prob, value=-1)
            target = torch.add(rewards, next_value, alpha=self.gamma)
            target.addcmul_(batch["terminated"].squeeze(-1), next_value, value=-self.gamma)
            q, kept = self.critic.forward_keeping_inputs(torch.cat([inputs, batch["actions"]], -1))
            error = q.squeeze(-1) - target
            critic_loss = torch.vdot(error.view(-1), error.view(-1)) * (0.5 / batch_size)
            self.critic.backward(kept, error.unsqueeze(-1).div_(batch_size))
            adam_step(self.critic_optimizer)

            # Actor: -mean_b min_m Q_m sends -1 / batch to the lower Q, back to the action.
            q_new, kept = self.critic.forward_keeping_inputs(torch.cat([inputs, actions], -1))
            q_min, lower = q_new.squeeze(-1).min(0)  # ties: the first
            if self.backprop_chosen_critic:
                grad_q = q_min.new_full((batch_size, 1), -1.0 / batch_size)
                grad_input = self.critic.input_grad_of_chosen(kept, lower, grad_q)
            else:
                grad_q = torch.zeros_like(q_new)
                grad_q.scatter_(0, lower.view(1, -1, 1), -1.0 / batch_size)
                grad_input = self.critic.backward(kept, grad_q, weight_grads=False, input_grad=True)
                grad_input = grad_input.sum(0)
            grad_action = grad_input[:, -self.action_dim :]
            self.actor.backward(actor_kept, grad_action, alpha / batch_size)
            # With entropy = -mean(log_pi), d/d log_alpha of -mean(log_alpha * (log_pi +
            # target)) is entropy - target.
            entropy = log_prob.mean().neg_()
            actor_loss = torch.addcmul(q_min.mean().neg_(), alpha, entropy, value=-1)
            alpha_grad = entropy - self.target_entropy
            alpha_loss = self.log_alpha * alpha_grad
            if self.autotune:
                gradient_buffer(self.log_alpha).copy_(alpha_grad)
            adam_step(self.actor_optimizer)

            self.critic_target.flat.lerp_(self.critic.flat, self.tau)
        return SACLosses(
            critic_loss, actor_loss, alpha_loss, self.log_alpha.detach().exp(), entropy, q.mean()
        )

    def state_dict(self) -> dict[str, object]:
        return {
            "actor": self.actor.state_dict(),
            "critic": self.critic.state_dict(),
            "critic_target": self.critic_target.state_dict(),
            "log_alpha": self.log_alpha.detach().clone(),
            "actor_optimizer": self.actor_optimizer.state_dict(),
            "critic_optimizer": self.critic_optimizer.state_dict(),
        }

    def load_state_dict(self, state: dict) -> None:
        self.actor.load_state_dict(state["actor"])
        self.critic.load_state_dict(state["critic"])
        self.critic_target.load_state_dict(state["critic_target"])
        with torch.no_grad():
            self.log_alpha.copy_(state["log_alpha"])
        self.actor_optimizer.load_state_dict(state["actor_optimizer"])
        self.critic_optimizer.load_state_dict(state["critic_optimizer"])
