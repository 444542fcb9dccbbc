import pytest
import torch
import transformers
from tokenizers import Tokenizer
from tokenizers.models import WordLevel
from tokenizers.pre_tokenizers import Whitespace

from groupvit_d2.modeling.clippy import build_sentence_t5
from groupvit_d2.modeling.core import PretrainedWeightsError

TINY = {"d_model": 16, "d_kv": 8, "d_ff": 32, "num_layers": 1, "num_heads": 2, "dropout_rate": 0.0}


@pytest.fixture(scope="module")
def random_encoder():
    torch.manual_seed(0)
    return build_sentence_t5("unused", pretrained=False, overrides=TINY, context_length=10).eval()


def test_random_encoder_reads_clip_bpe_up_to_eot(random_encoder):
    enc = random_encoder
    assert enc.reads_clip_bpe and enc.context_length == 10
    tokens = enc.tokenize(["a red ball", "a dog"])
    assert tokens.shape == (2, 10)
    # "!" is id 0 in CLIP BPE: padding is told apart by the end-of-text token, not by the id.
    assert enc.attention_mask(tokens).sum(1).tolist() == [5, 4]


def test_mean_pooling_over_real_tokens(random_encoder):
    enc = random_encoder
    tokens = enc.tokenize(["a red ball"])
    mask = enc.attention_mask(tokens)
    hidden = enc.encoder(input_ids=tokens, attention_mask=mask.long()).last_hidden_state
    torch.testing.assert_close(enc(tokens), hidden[0, :5].mean(0, keepdim=True))
    # T5 has relative positions only: more padding does not change the embedding.
    longer = torch.cat([tokens, torch.zeros(1, 6, dtype=tokens.dtype)], dim=1)
    torch.testing.assert_close(enc(longer), enc(tokens))


def test_loads_a_local_checkpoint_folder(tmp_path):
    torch.manual_seed(0)
    source = transformers.T5EncoderModel(transformers.T5Config(vocab_size=8, **TINY))
    source.save_pretrained(tmp_path)
    vocab = {"<pad>": 0, "<unk>": 1, "a": 2, "red": 3, "ball": 4}
    word_level = Tokenizer(WordLevel(vocab, unk_token="<unk>"))
    word_level.pre_tokenizer = Whitespace()
    transformers.PreTrainedTokenizerFast(tokenizer_object=word_level, pad_token="<pad>", unk_token="<unk>") \
        .save_pretrained(tmp_path)

    enc = build_sentence_t5(str(tmp_path), pretrained=True, context_length=6).eval()
    assert not enc.reads_clip_bpe
    tokens = enc.tokenize(["a red ball", "ball"])
    assert tokens.tolist() == [[2, 3, 4, 0, 0, 0], [4, 0, 0, 0, 0, 0]]
    assert enc.attention_mask(tokens).sum(1).tolist() == [3, 1]
    for key, value in source.state_dict().items():
        torch.testing.assert_close(enc.encoder.state_dict()[key], value)
    with pytest.raises(ValueError, match="TEXT_OVERRIDES"):
        build_sentence_t5(str(tmp_path), pretrained=True, overrides={"d_model": 8})


def test_offline_checkpoint_fails_with_a_clear_message(monkeypatch):
    def unreachable(*args, **kwargs):
        raise OSError("We couldn't connect to 'https://huggingface.co'")

    monkeypatch.setattr(transformers.T5EncoderModel, "from_pretrained", unreachable)
    with pytest.raises(PretrainedWeightsError) as error:
        build_sentence_t5("sentence-transformers/sentence-t5-base", pretrained=True)
    message = str(error.value)
    assert "'sentence-transformers/sentence-t5-base'" in message and "cannot be downloaded" in message
    assert "MODEL.CLIPPY.TEXT_PRETRAINED" in message
