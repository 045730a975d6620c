// tokenizerFromModel(path): the model file's tokenizer, for the CLI and the engine process.
#include <napi.h>

#include <memory>

#include "registry.h"
#include "platform/platform.h"
#include "tokenizer/model_tokenizer.h"

namespace st::addon {
namespace {

class DecoderWrap : public Napi::ObjectWrap<DecoderWrap> {
 public:
  static Napi::FunctionReference* constructor;
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "StreamingDecoder", {InstanceMethod("push", &DecoderWrap::Push), InstanceMethod("flush", &DecoderWrap::Flush)});
  }
  explicit DecoderWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<DecoderWrap>(info) {
    owner_ = std::static_pointer_cast<ModelTokenizer>(*info[0].As<Napi::External<std::shared_ptr<ModelTokenizer>>>().Data());
    decoder_ = std::make_unique<StreamingDecoder>(*owner_->bpe, info[1].ToBoolean());
  }

 private:
  Napi::Value Push(const Napi::CallbackInfo& info) {
    if (info.Length() < 1 || !info[0].IsNumber()) throw Napi::TypeError::New(info.Env(), "push needs a token id");
    try {
      return Napi::String::New(info.Env(), decoder_->push(info[0].As<Napi::Number>().Int32Value()));
    } catch (const std::exception& e) {
      throw Napi::RangeError::New(info.Env(), e.what());
    }
  }
  Napi::Value Flush(const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), decoder_->flush()); }

  std::shared_ptr<ModelTokenizer> owner_;
  std::unique_ptr<StreamingDecoder> decoder_;
};
Napi::FunctionReference* DecoderWrap::constructor = nullptr;

class TokenizerWrap : public Napi::ObjectWrap<TokenizerWrap> {
 public:
  static Napi::FunctionReference* constructor;
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "NativeTokenizer", {
      InstanceMethod("encode", &TokenizerWrap::Encode),
      InstanceMethod("encodeParts", &TokenizerWrap::EncodeParts),
      InstanceMethod("decode", &TokenizerWrap::Decode),
      InstanceMethod("createStreamingDecoder", &TokenizerWrap::CreateDecoder),
      InstanceMethod("idsOfType", &TokenizerWrap::IdsOfType),
      InstanceAccessor("tokenCount", &TokenizerWrap::TokenCount, nullptr),
      InstanceAccessor("endOfGenerationIds", &TokenizerWrap::Eog, nullptr),
      InstanceAccessor("bosId", &TokenizerWrap::Bos, nullptr),
      InstanceAccessor("chatTemplate", &TokenizerWrap::ChatTemplate, nullptr),
      InstanceMethod("release", &TokenizerWrap::Release),
    });
  }

  explicit TokenizerWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<TokenizerWrap>(info) {
    if (info.Length() < 1 || !info[0].IsString()) throw Napi::TypeError::New(info.Env(), "tokenizerFromModel needs a model path");
    try {
      tok_ = std::make_shared<ModelTokenizer>(ModelTokenizer::from_gguf(gguf::GgufFile::open(info[0].As<Napi::String>().Utf8Value())));
    } catch (const std::exception& e) {
      throw Napi::Error::New(info.Env(), e.what());
    }
  }

 private:
  Napi::Value Encode(const Napi::CallbackInfo& info) {
    if (info.Length() < 1 || !info[0].IsString()) throw Napi::TypeError::New(info.Env(), "encode needs a string");
    bool parse_special = false;
    if (info.Length() > 1 && info[1].IsObject()) parse_special = info[1].As<Napi::Object>().Get("parseSpecial").ToBoolean();
    const std::vector<int32_t> ids = tok(info.Env()).bpe->encode(info[0].As<Napi::String>().Utf8Value(), parse_special);
    Napi::Int32Array out = Napi::Int32Array::New(info.Env(), ids.size());
    std::copy(ids.begin(), ids.end(), out.Data());
    return out;
  }

  // encodeParts([{text, parseSpecial}]): one text whose control tokens count only inside the
  // parts with parseSpecial (a chat template's markup), never in the others (message contents).
  Napi::Value EncodeParts(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsArray()) throw Napi::TypeError::New(env, "encodeParts needs an array of {text, parseSpecial}");
    Napi::Array parts = info[0].As<Napi::Array>();
    std::string text;
    std::vector<BpeTokenizer::Span> spans;
    for (uint32_t i = 0; i < parts.Length(); i++) {
      Napi::Value v = parts.Get(i);
      Napi::Value part_text = v.IsObject() ? v.As<Napi::Object>().Get("text") : env.Undefined();
      if (!part_text.IsString()) throw Napi::TypeError::New(env, "encodeParts: part " + std::to_string(i) + " needs a text string");
      const size_t begin = text.size();
      text += part_text.As<Napi::String>().Utf8Value();
      if (!v.As<Napi::Object>().Get("parseSpecial").ToBoolean() || text.size() == begin) continue;
      if (!spans.empty() && spans.back().end == begin) spans.back().end = text.size();  // adjacent markup is one span
      else spans.push_back({begin, text.size()});
    }
    const std::vector<int32_t> ids = tok(env).bpe->encode(text, spans);
    Napi::Int32Array out = Napi::Int32Array::New(env, ids.size());
    std::copy(ids.begin(), ids.end(), out.Data());
    return out;
  }

  Napi::Value Decode(const Napi::CallbackInfo& info) {
    if (info.Length() < 1 || !info[0].IsTypedArray()) throw Napi::TypeError::New(info.Env(), "decode needs an Int32Array");
    Napi::Int32Array ids = info[0].As<Napi::Int32Array>();
    const bool special = info.Length() > 1 && info[1].IsObject() && info[1].As<Napi::Object>().Get("renderSpecial").ToBoolean();
    std::string text;
    try {
      for (size_t i = 0; i < ids.ElementLength(); i++) text += tok(info.Env()).bpe->token_bytes(ids[i], special);
    } catch (const std::exception& e) {
      throw Napi::RangeError::New(info.Env(), e.what());
    }
    return Napi::String::New(info.Env(), text);
  }

  Napi::Value CreateDecoder(const Napi::CallbackInfo& info) {
    const bool special = info.Length() > 0 && info[0].IsObject() && info[0].As<Napi::Object>().Get("renderSpecial").ToBoolean();
    tok(info.Env());  // not released
    auto handle = Napi::External<std::shared_ptr<ModelTokenizer>>::New(info.Env(), new std::shared_ptr<ModelTokenizer>(tok_),
        [](Napi::Env, std::shared_ptr<ModelTokenizer>* p) { delete p; });
    return DecoderWrap::constructor->New({handle, Napi::Boolean::New(info.Env(), special)});
  }

  // idsOfType(type): the ids whose tokenizer.ggml.token_type is `type` (5: the unused [PAD…] rows).
  Napi::Value IdsOfType(const Napi::CallbackInfo& info) {
    if (info.Length() < 1 || !info[0].IsNumber()) throw Napi::TypeError::New(info.Env(), "idsOfType needs a token type");
    const int32_t type = info[0].As<Napi::Number>().Int32Value();
    const BpeTokenizer& bpe = *tok(info.Env()).bpe;
    std::vector<int32_t> ids;
    for (int32_t id = 0; id < bpe.size(); id++) {
      if (static_cast<int32_t>(bpe.type(id)) == type) ids.push_back(id);
    }
    Napi::Int32Array out = Napi::Int32Array::New(info.Env(), ids.size());
    std::copy(ids.begin(), ids.end(), out.Data());
    return out;
  }

  Napi::Value TokenCount(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), tok(info.Env()).bpe->size()); }
  Napi::Value Bos(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), tok(info.Env()).bos_id); }
  Napi::Value ChatTemplate(const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), tok(info.Env()).chat_template); }
  Napi::Value Eog(const Napi::CallbackInfo& info) {
    const ModelTokenizer& t = tok(info.Env());
    Napi::Array a = Napi::Array::New(info.Env(), t.end_of_generation_ids.size());
    for (size_t i = 0; i < t.end_of_generation_ids.size(); i++) a.Set(static_cast<uint32_t>(i), t.end_of_generation_ids[i]);
    return a;
  }

  // The tokenizer, or a JS error once release() has freed it.
  const ModelTokenizer& tok(Napi::Env env) const {
    if (!tok_) throw Napi::Error::New(env, "the tokenizer has been released");
    return *tok_;
  }
  // release(): frees the vocabulary's tables now (tens of MB), not at garbage collection;
  // streaming decoders made before keep them until they go.
  Napi::Value Release(const Napi::CallbackInfo& info) {
    tok_.reset();
    platform::return_free_memory();
    return info.Env().Undefined();
  }

  std::shared_ptr<ModelTokenizer> tok_;
};
Napi::FunctionReference* TokenizerWrap::constructor = nullptr;

Registration reg([](Napi::Env env, Napi::Object exports) {
  DecoderWrap::constructor = new Napi::FunctionReference(Napi::Persistent(DecoderWrap::Define(env)));
  TokenizerWrap::constructor = new Napi::FunctionReference(Napi::Persistent(TokenizerWrap::Define(env)));
  exports.Set("tokenizerFromModel", Napi::Function::New(env, [](const Napi::CallbackInfo& info) {
    return TokenizerWrap::constructor->New({info.Length() > 0 ? info[0] : info.Env().Undefined()});
  }));
});

}  // namespace
}  // namespace st::addon
