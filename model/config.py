"""Model configuration read from a checkpoint's `config.json`: backbone fields plus MSA parameters.

Two families are supported: Qwen3 (`model_type` "qwen3" or "msa", per-head q/k RMSNorm) and Llama
(`model_type` "llama"). MSA parameters come from the `msa_config` dict of the published MSA-4B format
(MSA_SPEC.md section 1.2); a checkpoint without one gets the documented defaults of `MSAParams`.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


class ConfigError(ValueError):
    """A config.json value is missing, unknown or unsupported; the message names the key."""


FAMILIES = {"qwen3": "qwen3", "msa": "qwen3", "llama": "llama"}
AUX_LOSS_METHODS = ("INFONCE", "INFONCE_DECOUPLE", "INFONCE_FOCAL", "INFONCE_DECOUPLE_FOCAL", "BCE")
HEAD_REDUCE = ("mean", "max")
QUERY_REDUCE = ("max", "mean", "last")
CHUNK_REDUCE = ("max", "mean")
READ_MODES = ("kv", "text")
# The reference service reads `doc_top_k` with this default; the writer stores `top_k_docs` (spec 10.4).
SERVICE_DEFAULT_TOP_K = 16


def _as_bool(key: str, value: Any) -> bool:
    """resave_model.py writes some flags as strings ("false"); accept both spellings."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise ConfigError(f"msa_config.{key} must be a boolean, got {value!r}")


def _choice(key: str, value: Any, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise ConfigError(f"msa_config.{key} = {value!r} is not supported; expected one of {allowed}")
    return value


def parse_router_layers(value: Any, num_layers: int) -> tuple[int, ...]:
    """`router_layer_idx` is "all", a comma-separated string "18,19,..." or a list of ints."""
    if value == "all":
        return tuple(range(num_layers))
    if isinstance(value, str):
        try:
            layers = [int(v) for v in value.split(",") if v.strip()]
        except ValueError as e:
            raise ConfigError(f"msa_config.router_layer_idx = {value!r} is not 'all' or a list of ints") from e
    elif isinstance(value, list | tuple):
        layers = list(value)
    else:
        raise ConfigError(f"msa_config.router_layer_idx = {value!r} is not 'all' or a list of ints")
    if not layers or any(not isinstance(i, int) or not 0 <= i < num_layers for i in layers):
        raise ConfigError(f"msa_config.router_layer_idx = {value!r} must name layers in [0, {num_layers})")
    if len(set(layers)) != len(layers):
        raise ConfigError(f"msa_config.router_layer_idx = {value!r} repeats a layer")
    return tuple(sorted(layers))


@dataclass(frozen=True)
class MSAParams:
    """MSA parameters (`msa_config`). Defaults apply to checkpoints without an msa_config.

    Without msa_config the router layers are the upper half of the model, there are no decoupled router
    projections (routing keys are the pooled attention keys) and routing is cosine ("INFONCE").
    """

    router_layers: tuple[int, ...]
    pooling_kernel_size: int = 64
    top_k_docs: int = 2  # training top-k; the reference service does not read it
    doc_top_k: int = SERVICE_DEFAULT_TOP_K  # inference top-k (reference service default 16)
    decouple_router: bool = False
    aux_loss_method: str = "INFONCE"
    head_reduce_method: str = "mean"
    query_reduce_method: str = "max"
    chunk_reduce_method: str = "max"
    infonce_loss_temp: float = 0.1
    aux_loss: bool = False
    lmloss_weigth: float = 1.0  # (sic) spelled as in the published format
    auxloss_weight: float = 0.1
    recloss_weight: float = 0.0
    ansloss_weight: float = 1.0
    rewrite_position: bool = False
    decouple_pooling_mode: str = "mean"  # read by the reference but never used (spec 1.2)
    read_mode: str = "kv"  # this project's extension: how the model reads memory ("kv" or "text")

    def __post_init__(self) -> None:
        if self.pooling_kernel_size < 1:
            raise ConfigError(f"msa_config.pooling_kernel_size = {self.pooling_kernel_size} must be >= 1")
        for key in ("top_k_docs", "doc_top_k"):
            if getattr(self, key) < 1:
                raise ConfigError(f"msa_config.{key} = {getattr(self, key)} must be >= 1")
        _choice("aux_loss_method", self.aux_loss_method, AUX_LOSS_METHODS)
        _choice("head_reduce_method", self.head_reduce_method, HEAD_REDUCE)
        _choice("query_reduce_method", self.query_reduce_method, QUERY_REDUCE)
        _choice("chunk_reduce_method", self.chunk_reduce_method, CHUNK_REDUCE)
        _choice("decouple_pooling_mode", self.decouple_pooling_mode, ("mean",))
        _choice("read_mode", self.read_mode, READ_MODES)

    @property
    def compat_cosine(self) -> bool:
        """Reference inference normalises router Q/K only for the exact string "INFONCE" (spec 10.1)."""
        return self.aux_loss_method == "INFONCE"

    @classmethod
    def from_dict(cls, raw: dict[str, Any] | None, num_layers: int) -> MSAParams:
        if raw is None:
            log.info("no msa_config in config.json: using defaults (router layers = upper half)")
            return cls(router_layers=tuple(range(num_layers // 2, num_layers)))
        known = {f.name for f in fields(cls)} | {"router_layer_idx"}
        for key in raw:
            if key not in known:
                log.warning("msa_config.%s is not used by msa-memstore; ignored", key)
        kw: dict[str, Any] = {
            "router_layers": parse_router_layers(raw.get("router_layer_idx", "all"), num_layers)
        }
        for f in fields(cls):
            if f.name == "router_layers" or f.name not in raw:
                continue
            value = raw[f.name]
            if isinstance(f.default, bool):
                value = _as_bool(f.name, value)
            elif isinstance(f.default, int) and not isinstance(value, int):
                raise ConfigError(f"msa_config.{f.name} must be an integer, got {value!r}")
            elif isinstance(f.default, float):
                if not isinstance(value, int | float):
                    raise ConfigError(f"msa_config.{f.name} must be a number, got {value!r}")
                value = float(value)
            kw[f.name] = value
        return cls(**kw)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["router_layer_idx"] = ",".join(str(i) for i in out.pop("router_layers"))
        return out


@dataclass(frozen=True)
class RopeScaling:
    """`rope_scaling` of config.json: "default", "linear" or "llama3"."""

    rope_type: str = "default"
    factor: float = 1.0
    low_freq_factor: float = 1.0
    high_freq_factor: float = 4.0
    original_max_position_embeddings: int = 8192

    @classmethod
    def from_dict(cls, raw: dict[str, Any] | None) -> RopeScaling:
        if not raw:
            return cls()
        rope_type = raw.get("rope_type", raw.get("type", "default"))
        if rope_type not in ("default", "linear", "llama3"):
            raise ConfigError(f"rope_scaling.rope_type = {rope_type!r} is not supported "
                              "(supported: default, linear, llama3)")
        kw = {k: raw[k] for k in ("factor", "low_freq_factor", "high_freq_factor",
                                  "original_max_position_embeddings") if k in raw}
        return cls(rope_type=rope_type, **kw)


@dataclass(frozen=True)
class ModelConfig:
    """Backbone geometry and MSA parameters of one checkpoint."""

    family: str  # "qwen3" | "llama"
    vocab_size: int
    hidden_size: int
    intermediate_size: int
    num_hidden_layers: int
    num_attention_heads: int
    num_key_value_heads: int
    head_dim: int
    msa: MSAParams
    rms_norm_eps: float = 1e-6
    rope_theta: float = 10000.0
    rope_scaling: RopeScaling = field(default_factory=RopeScaling)
    max_position_embeddings: int = 32768
    tie_word_embeddings: bool = True
    bos_token_id: int | None = None
    eos_token_id: int | list[int] | None = None
    pad_token_id: int | None = None
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.num_attention_heads % self.num_key_value_heads:
            raise ConfigError(f"num_attention_heads {self.num_attention_heads} is not a multiple of "
                              f"num_key_value_heads {self.num_key_value_heads}")

    @property
    def has_qk_norm(self) -> bool:
        return self.family == "qwen3"

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> ModelConfig:
        model_type = raw.get("model_type")
        if model_type not in FAMILIES:
            raise ConfigError(f"model_type = {model_type!r} is not supported; expected one of {list(FAMILIES)}")
        for key, ok in (("hidden_act", "silu"), ("attention_bias", False), ("mlp_bias", False),
                        ("use_sliding_window", False)):
            if raw.get(key, ok) != ok:
                raise ConfigError(f"{key} = {raw[key]!r} is not supported (only {ok!r})")
        missing = [k for k in ("vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers",
                               "num_attention_heads") if k not in raw]
        if missing:
            raise ConfigError(f"config.json lacks required key(s): {', '.join(missing)}")
        n_layers = raw["num_hidden_layers"]
        n_heads = raw["num_attention_heads"]
        rope_theta = raw.get("rope_theta", (raw.get("rope_parameters") or {}).get("rope_theta", 10000.0))
        return cls(
            family=FAMILIES[model_type],
            vocab_size=raw["vocab_size"],
            hidden_size=raw["hidden_size"],
            intermediate_size=raw["intermediate_size"],
            num_hidden_layers=n_layers,
            num_attention_heads=n_heads,
            num_key_value_heads=raw.get("num_key_value_heads", n_heads),
            head_dim=raw.get("head_dim") or raw["hidden_size"] // n_heads,
            msa=MSAParams.from_dict(raw.get("msa_config"), n_layers),
            rms_norm_eps=raw.get("rms_norm_eps", 1e-6),
            rope_theta=float(rope_theta),
            rope_scaling=RopeScaling.from_dict(raw.get("rope_scaling") or raw.get("rope_parameters")),
            max_position_embeddings=raw.get("max_position_embeddings", 32768),
            tie_word_embeddings=raw.get("tie_word_embeddings", True),
            bos_token_id=raw.get("bos_token_id"),
            eos_token_id=raw.get("eos_token_id"),
            pad_token_id=raw.get("pad_token_id"),
            raw=raw,
        )

    @classmethod
    def from_file(cls, path: str | Path) -> ModelConfig:
        path = Path(path)
        if path.is_dir():
            path = path / "config.json"
        if not path.exists():
            raise ConfigError(f"{path} not found: a checkpoint directory holds config.json")
        return cls.from_dict(json.loads(path.read_text()))

    @property
    def attention_scale(self) -> float:
        return 1.0 / math.sqrt(self.head_dim)
