// Benchmark output: one JSON object per line on stdout (bench/peers/table.mjs prints them as
// a table), progress on stderr. Field names match the Node peers' so rows line up.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <variant>

namespace dagsync::bench {

// A JSON line assembled field by field, in insertion order.
class JsonLine {
 public:
  JsonLine& add(const std::string& key, const std::string& value);
  JsonLine& add(const std::string& key, const char* value) { return add(key, std::string(value)); }
  JsonLine& add(const std::string& key, double value);
  JsonLine& add(const std::string& key, std::int64_t value);
  JsonLine& add(const std::string& key, std::uint64_t value) {
    return add(key, static_cast<std::int64_t>(value));
  }
  JsonLine& add(const std::string& key, int value) { return add(key, std::int64_t{value}); }
  JsonLine& add(const std::string& key, bool value);
  void print() const;  // to stdout, flushed

 private:
  std::string body_;
  void key(const std::string& k);
};

// Peak resident set size of this process so far, in KiB (getrusage).
std::int64_t peak_rss_kb();

// Monotonic wall clock in milliseconds.
double now_ms();

// Parses --name value pairs; unknown names are an error naming them.
class Args {
 public:
  Args(int argc, char** argv, std::map<std::string, std::string> defaults);
  std::string str(const std::string& name) const;
  std::uint64_t num(const std::string& name) const;

 private:
  std::map<std::string, std::string> values_;
};

}  // namespace dagsync::bench
