#include "log.h"

#include <spdlog/sinks/base_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <mutex>

#include "store.h"

namespace dagsync::peer {

namespace {

// Writes each record as one JSON object on stderr.
class JsonLinesSink : public spdlog::sinks::base_sink<std::mutex> {
 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(msg.time.time_since_epoch());
    std::string line =
        "{\"time\":" + json_string(utc_time_text(ms.count())) + ",\"level\":" +
        json_string(std::string(spdlog::level::to_string_view(msg.level).data(),
                                spdlog::level::to_string_view(msg.level).size())) +
        ",\"logger\":" + json_string(std::string(msg.logger_name.data(), msg.logger_name.size())) +
        ",\"msg\":" + json_string(std::string(msg.payload.data(), msg.payload.size())) + "}\n";
    std::fwrite(line.data(), 1, line.size(), stderr);
  }
  void flush_() override { std::fflush(stderr); }
};

}  // namespace

std::string utc_time_text(long long unix_ms) {
  std::time_t seconds = static_cast<std::time_t>(unix_ms / 1000);
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char buf[96];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<int>(unix_ms % 1000));
  return buf;
}

std::string json_string(const std::string& text) {
  std::string out = "\"";
  for (unsigned char c : text) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out + "\"";
}

std::shared_ptr<spdlog::logger> make_logger(const CommonOptions& common) {
  spdlog::sink_ptr sink;
  if (common.log_format == "json") {
    sink = std::make_shared<JsonLinesSink>();
  } else {
    sink = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
  }
  auto logger = std::make_shared<spdlog::logger>("dagsync", std::move(sink));
  logger->set_level(common.verbose ? spdlog::level::debug : spdlog::level::warn);
  return logger;
}

void announce(const CommonOptions& common, const std::string& prefix, const std::string& event,
              const Fields& fields, const std::string& text) {
  if (common.log_format == "json") {
    std::string line =
        "{\"time\":" + json_string(utc_time_text(now_ms())) + ",\"event\":" + json_string(event);
    for (const auto& [key, value] : fields)
      line += "," + json_string(key) + ":" + json_string(value);
    line += "}\n";
    std::fwrite(line.data(), 1, line.size(), stdout);
  } else {
    std::printf("%s: %s\n", prefix.c_str(), text.c_str());
  }
  std::fflush(stdout);
}

}  // namespace dagsync::peer
