"""Tiny, randomly initialised models laid out like the published DNA encoders (no network needed).

Each builder writes a model directory that ``AutoModel`` / ``AutoTokenizer``
load, exactly as a downloaded hub snapshot would be laid out:

- ``dnabert2``: BERT with a BPE tokenizer in DNABERT-2's layout ([UNK]=0,
  [CLS]=1, [SEP]=2, [PAD]=3, [MASK]=4; ``[CLS] ... [SEP]``), absolute positions.
- ``nt``: ESM (masked-LM checkpoint, absolute positions) with the Nucleotide
  Transformer's tokenizer: non-overlapping 6-mers, single bases for the rest,
  ``<cls> ... <eos>``.
- ``hyena``: a character-level causal convolution model shipped as *custom
  code* (``auto_map``, like HyenaDNA), whose forward takes no attention mask;
  HyenaDNA's character vocabulary, ``[SEP]`` appended, left padding.
- ``roberta``: RoBERTa with a foreign non-overlapping 3-mer tokenizer
  (RoBERTa's ``<s> ... </s>`` specials), not one of dnalib's.
- ``dnalib``: a dnalib RoBERTa with its overlapping 4-mer tokenizer.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np

FAMILIES = ("dnabert2", "nt", "hyena", "roberta", "dnalib")

HYENA_CODE = '''
import torch
from torch import nn
from transformers import PretrainedConfig, PreTrainedModel
from transformers.modeling_outputs import BaseModelOutput


class TinyHyenaConfig(PretrainedConfig):
    model_type = "tinyhyena"

    def __init__(self, vocab_size=12, d_model=32, n_layer=2, max_seq_len=64, pad_token_id=4, **kw):
        super().__init__(pad_token_id=pad_token_id, **kw)
        self.vocab_size = vocab_size
        self.d_model = d_model
        self.n_layer = n_layer
        self.max_seq_len = max_seq_len


class TinyHyenaModel(PreTrainedModel):
    config_class = TinyHyenaConfig
    base_model_prefix = "hyena"

    def __init__(self, config):
        super().__init__(config)
        d = config.d_model
        self.embed = nn.Embedding(config.vocab_size, d)
        self.convs = nn.ModuleList(nn.Conv1d(d, d, kernel_size=4) for _ in range(config.n_layer))
        self.post_init()

    def _init_weights(self, module):
        if isinstance(module, (nn.Embedding, nn.Conv1d)):
            nn.init.normal_(module.weight, std=0.5)
        if isinstance(module, nn.Conv1d):
            nn.init.zeros_(module.bias)

    def forward(self, input_ids, output_hidden_states=None, return_dict=None):
        x = self.embed(input_ids).transpose(1, 2)
        for conv in self.convs:
            x = x + torch.tanh(conv(nn.functional.pad(x, (3, 0))))  # causal
        return BaseModelOutput(last_hidden_state=x.transpose(1, 2))
'''


def _fast_tokenizer(tok, **kw):
    from transformers import PreTrainedTokenizerFast

    return PreTrainedTokenizerFast(tokenizer_object=tok, **kw)


def _random_dna(n, length, seed):
    rng = np.random.default_rng(seed)
    return ["".join(rng.choice(list("ACGT"), length)) for _ in range(n)]


def build_dnabert2(path: Path) -> Path:
    import torch
    from tokenizers import Tokenizer, models, processors, trainers
    from transformers import BertConfig, BertModel

    specials = ["[UNK]", "[CLS]", "[SEP]", "[PAD]", "[MASK]"]
    tok = Tokenizer(models.BPE(unk_token="[UNK]"))
    trainer = trainers.BpeTrainer(vocab_size=48, special_tokens=specials, initial_alphabet=list("ACGTN"),
                                  limit_alphabet=5, show_progress=False)
    tok.train_from_iterator(_random_dna(40, 300, seed=11), trainer=trainer)
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", 1), ("[SEP]", 2)])
    fast = _fast_tokenizer(tok, unk_token="[UNK]", cls_token="[CLS]", sep_token="[SEP]",
                           pad_token="[PAD]", mask_token="[MASK]", model_max_length=512)
    torch.manual_seed(0)
    cfg = BertConfig(vocab_size=tok.get_vocab_size(), hidden_size=32, num_hidden_layers=2,
                     num_attention_heads=2, intermediate_size=64, max_position_embeddings=24,
                     pad_token_id=3)
    BertModel(cfg).save_pretrained(path)
    fast.save_pretrained(path)
    return path


def build_nt(path: Path) -> Path:
    import torch
    from transformers import EsmConfig, EsmForMaskedLM, EsmTokenizer

    path.mkdir(parents=True, exist_ok=True)
    vocab = (["<unk>", "<pad>", "<mask>", "<cls>", "<eos>", "<bos>"]
             + ["".join(p) for p in itertools.product("ACGT", repeat=6)] + list("ACGTN"))
    (path / "vocab.txt").write_text("\n".join(vocab) + "\n")
    tok = EsmTokenizer(str(path / "vocab.txt"), model_max_length=1000)
    torch.manual_seed(1)
    cfg = EsmConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                    intermediate_size=64, max_position_embeddings=22, position_embedding_type="absolute",
                    pad_token_id=1, mask_token_id=2, token_dropout=False, emb_layer_norm_before=False)
    EsmForMaskedLM(cfg).save_pretrained(path)
    tok.save_pretrained(path)
    return path


def build_hyena(path: Path) -> Path:
    import importlib.util
    import sys

    import torch
    from tokenizers import Regex, Tokenizer, models, pre_tokenizers, processors

    path.mkdir(parents=True, exist_ok=True)
    (path / "modeling_tinyhyena.py").write_text(HYENA_CODE)
    spec = importlib.util.spec_from_file_location("modeling_tinyhyena", path / "modeling_tinyhyena.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("modeling_tinyhyena", module)
    spec.loader.exec_module(module)
    # HyenaDNA's character vocabulary
    vocab = {t: i for i, t in enumerate(["[CLS]", "[SEP]", "[BOS]", "[MASK]", "[PAD]", "[RESERVED]",
                                         "[UNK]", "A", "C", "G", "T", "N"])}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Split(Regex("."), behavior="isolated")
    tok.post_processor = processors.TemplateProcessing(single="$A [SEP]",
                                                       special_tokens=[("[SEP]", 1)])
    fast = _fast_tokenizer(tok, unk_token="[UNK]", sep_token="[SEP]", pad_token="[PAD]",
                           mask_token="[MASK]", model_max_length=64, padding_side="left")
    torch.manual_seed(2)
    cfg = module.TinyHyenaConfig(vocab_size=len(vocab), max_seq_len=64)
    cfg.auto_map = {"AutoConfig": "modeling_tinyhyena.TinyHyenaConfig",
                    "AutoModel": "modeling_tinyhyena.TinyHyenaModel"}
    module.TinyHyenaModel(cfg).save_pretrained(path)
    fast.save_pretrained(path)
    cfg_json = json.loads((path / "config.json").read_text())
    assert cfg_json.get("auto_map"), cfg_json
    return path


def build_roberta(path: Path) -> Path:
    import torch
    from tokenizers import Regex, Tokenizer, models, pre_tokenizers, processors
    from transformers import RobertaConfig, RobertaModel

    words = (["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
             + ["".join(p) for k in (3, 2) for p in itertools.product("ACGT", repeat=k)] + list("ACGTN"))
    tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Split(Regex(".{1,3}"), behavior="isolated")
    tok.post_processor = processors.TemplateProcessing(single="<s> $A </s>",
                                                       special_tokens=[("<s>", 0), ("</s>", 2)])
    fast = _fast_tokenizer(tok, bos_token="<s>", eos_token="</s>", cls_token="<s>", sep_token="</s>",
                           unk_token="<unk>", pad_token="<pad>", mask_token="<mask>",
                           model_max_length=512)
    torch.manual_seed(3)
    cfg = RobertaConfig(vocab_size=len(words), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=32, pad_token_id=1)
    RobertaModel(cfg, add_pooling_layer=False).save_pretrained(path)
    fast.save_pretrained(path)
    return path


def build_dnalib(path: Path) -> Path:
    from dnalib.models import model_config, new_mlm_model
    from dnalib.tokenizers import make_tokenizer

    tok = make_tokenizer("kmer", k=4)
    new_mlm_model(model_config(tok, profile="smoke", max_tokens=40), seed=0).save_pretrained(path)
    tok.save_pretrained(path)
    return path


BUILDERS = {"dnabert2": build_dnabert2, "nt": build_nt, "hyena": build_hyena,
            "roberta": build_roberta, "dnalib": build_dnalib}

#: Families whose model ships its own code (needs trust_remote_code).
REMOTE_CODE = {"hyena"}


def build_all(root: Path) -> dict[str, Path]:
    """Write every tiny family model under *root*; return {family: directory}."""
    return {name: BUILDERS[name](root / name) for name in FAMILIES}


def write_hub_cache(cache: Path, repo_id: str, model_dir: Path, commit: str) -> Path:
    """Lay *model_dir* out as a Hugging Face hub cache snapshot of *repo_id* at *commit*."""
    import shutil

    repo = cache / ("models--" + repo_id.replace("/", "--"))
    snap = repo / "snapshots" / commit
    shutil.copytree(model_dir, snap)
    (repo / "refs").mkdir(parents=True, exist_ok=True)
    (repo / "refs" / "main").write_text(commit)
    return snap
