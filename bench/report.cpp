#include "report.h"

#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <iostream>
#include <stdexcept>

namespace dagsync::bench {

namespace {
std::string escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out += c;
    }
  }
  return out;
}
}  // namespace

void JsonLine::key(const std::string& k) {
  body_ += body_.empty() ? "{" : ",";
  body_ += "\"" + escape(k) + "\":";
}

JsonLine& JsonLine::add(const std::string& k, const std::string& value) {
  key(k);
  body_ += "\"" + escape(value) + "\"";
  return *this;
}

JsonLine& JsonLine::add(const std::string& k, double value) {
  key(k);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.3f", value);
  body_ += buf;
  return *this;
}

JsonLine& JsonLine::add(const std::string& k, std::int64_t value) {
  key(k);
  body_ += std::to_string(value);
  return *this;
}

JsonLine& JsonLine::add(const std::string& k, bool value) {
  key(k);
  body_ += value ? "true" : "false";
  return *this;
}

void JsonLine::print() const {
  std::cout << (body_.empty() ? "{" : body_) << "}" << std::endl;
}

std::int64_t peak_rss_kb() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_maxrss;
}

double now_ms() {
  using namespace std::chrono;
  return duration<double, std::milli>(steady_clock::now().time_since_epoch()).count();
}

Args::Args(int argc, char** argv, std::map<std::string, std::string> defaults)
    : values_(std::move(defaults)) {
  for (int i = 0; i < argc; ++i) {
    std::string name = argv[i];
    if (name.rfind("--", 0) != 0 || i + 1 >= argc) {
      throw std::invalid_argument("expected --name value, got '" + name + "'");
    }
    name = name.substr(2);
    if (!values_.count(name)) throw std::invalid_argument("unknown option --" + name);
    values_[name] = argv[++i];
  }
}

std::string Args::str(const std::string& name) const {
  return values_.at(name);
}

std::uint64_t Args::num(const std::string& name) const {
  const std::string& v = values_.at(name);
  std::size_t used = 0;
  std::uint64_t n = std::stoull(v, &used);
  if (used != v.size()) throw std::invalid_argument("--" + name + ": not a number: " + v);
  return n;
}

}  // namespace dagsync::bench
