// A complete custom transport: count+tcp://host:port is TCP with every frame's bytes counted.
#pragma once
#include <dagsync/transports.h>

namespace counting {
using namespace dagsync;

class Conn : public Connection {
 public:
  Conn(std::shared_ptr<Connection> inner, std::uint64_t& bytes)
      : in_(std::move(inner)), n_(bytes) {}
  void start(FrameHandler on_frame, CloseHandler on_close) override {
    in_->start([this, on_frame](Bytes f) { n_ += f.size(), on_frame(std::move(f)); }, on_close);
  }
  bool send(Bytes f) override { return n_ += f.size(), in_->send(std::move(f)); }
  void close(CloseReason why) override { in_->close(std::move(why)); }
  void pause_reading(bool paused) override { in_->pause_reading(paused); }
  bool is_open() const override { return in_->is_open(); }
  std::size_t queued_bytes() const override { return in_->queued_bytes(); }
  std::string description() const override { return "count+" + in_->description(); }

 private:
  std::shared_ptr<Connection> in_;
  std::uint64_t& n_;
};

class Adapter : public TransportAdapter, public Listener {
 public:
  Adapter(Transports& inner, std::uint64_t& bytes) : inner_(inner), n_(bytes) {}
  std::string scheme() const override { return "count+tcp"; }
  std::unique_ptr<Listener> listen(const Url& url, const TransportOptions&) override {
    auto self = std::make_unique<Adapter>(inner_, n_);
    self->listener_ = inner_.listen(tcp(url));
    return self;
  }
  void connect(const Url& url, const TransportOptions&, ConnectHandler done) override {
    inner_.connect(tcp(url), [this, done](std::shared_ptr<Connection> c, ConnectError error) {
      done(c ? std::make_shared<Conn>(std::move(c), n_) : nullptr, std::move(error));
    });
  }
  void start(AcceptHandler on_accept) override {
    listener_->start([this, on_accept](auto c) { on_accept(std::make_shared<Conn>(c, n_)); });
  }
  std::string url() const override { return "count+" + listener_->url(); }
  void close() override { listener_->close(); }

 private:
  static std::string tcp(Url url) { return url.scheme = "tcp", url.to_string(); }
  Transports& inner_;
  std::uint64_t& n_;
  std::unique_ptr<Listener> listener_;
};

}  // namespace counting
