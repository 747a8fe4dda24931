#pragma once
// The decode baselines every decode benchmark runs beside kmb's decoder, on the same bytes:
// nlohmann::json's DOM (the common choice) and simdjson's DOM (the fastest parser available).
// Shared by micro_bench and decode_isa_bench so both measure the same baseline code.

#include <benchmark/benchmark.h>
#include <simdjson.h>

#include <nlohmann/json.hpp>
#include <string>

namespace kmb::bench {

inline void BM_NlohmannDom(benchmark::State& state, const std::string* body) {
  for (auto _ : state) {
    nlohmann::json j = nlohmann::json::parse(body->begin(), body->end());
    benchmark::DoNotOptimize(j);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * body->size()));
}

inline void BM_SimdjsonDom(benchmark::State& state, const std::string* body) {
  simdjson::dom::parser parser;
  for (auto _ : state) {
    simdjson::dom::element doc;
    auto err = parser.parse(body->data(), body->size(), false).get(doc);
    if (err) {
      state.SkipWithError(simdjson::error_message(err));
      break;
    }
    benchmark::DoNotOptimize(doc);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * body->size()));
}

}  // namespace kmb::bench
