#include "metrics_text.h"

#include <cstdio>

#include "process_stats.h"

namespace echo_probe::monitor {
namespace {

constexpr Mode kModes[] = {Mode::kNew, Mode::kPersistent};

std::string number(double v) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

class Writer {
 public:
  explicit Writer(const std::vector<double>& buckets) : buckets_s_(buckets) {
    for (double b : buckets) bounds_ns_.push_back(static_cast<std::uint64_t>(b * 1e9));
  }

  void header(const char* name, const char* type, const char* help) {
    out_ += "# HELP ";
    out_ += name;
    out_ += ' ';
    out_ += help;
    out_ += "\n# TYPE ";
    out_ += name;
    out_ += ' ';
    out_ += type;
    out_ += '\n';
  }

  void sample(const std::string& name, const std::string& labels, double value) {
    out_ += name;
    if (!labels.empty()) out_ += "{" + labels + "}";
    out_ += ' ';
    out_ += number(value);
    out_ += '\n';
  }

  void histogram(const std::string& name, const std::string& labels, const Histogram& h) {
    const auto cumulative = h.cumulative_counts(bounds_ns_);
    const std::string sep = labels.empty() ? "" : ",";
    for (std::size_t i = 0; i < buckets_s_.size(); ++i) {
      sample(name + "_bucket", labels + sep + "le=\"" + number(buckets_s_[i]) + "\"",
             static_cast<double>(cumulative[i]));
    }
    sample(name + "_bucket", labels + sep + "le=\"+Inf\"", static_cast<double>(h.count()));
    sample(name + "_sum", labels, static_cast<double>(h.sum()) / 1e9);
    sample(name + "_count", labels, static_cast<double>(h.count()));
  }

  std::string& text() { return out_; }

 private:
  std::vector<double> buckets_s_;
  std::vector<std::uint64_t> bounds_ns_;
  std::string out_;
};

std::string label(const char* key, const std::string& value) {
  return std::string(key) + "=\"" + escape_label_value(value) + "\"";
}

// Calls fn(target, address, "target=..,address=..") for every exported address.
template <typename Fn>
void each_address(const Monitor& m, Fn fn) {
  for (const auto& t : m.series()) {
    for (const auto& [text, a] : t->addresses) {
      fn(*t, *a, label("target", t->target) + "," + label("address", text));
    }
  }
}

}  // namespace

std::string escape_label_value(const std::string& value) {
  std::string out;
  for (char c : value) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string render_metrics(const Monitor& m) {
  Writer w(m.options().buckets);
  w.header("echo_probe_build_info", "gauge", "echo-probe version and source revision.");
  w.sample("echo_probe_build_info",
           label("version", ECHO_PROBE_VERSION) + "," + label("revision", ECHO_PROBE_REVISION), 1);

  w.header("echo_probe_addresses", "gauge",
           "Addresses probed per target (after the --max-addresses cap).");
  for (const auto& t : m.series()) {
    w.sample("echo_probe_addresses", label("target", t->target), t->probed_addresses());
  }

  w.header("echo_probe_messages_total", "counter", "Echo messages sent.");
  each_address(m, [&](const TargetSeries&, const AddressSeries& a, const std::string& l) {
    for (Mode mode : kModes) {
      w.sample("echo_probe_messages_total", l + "," + label("mode", mode_name(mode)),
               static_cast<double>(a.mode(mode).messages));
    }
  });
  w.header("echo_probe_verified_total", "counter", "Echo messages returned byte for byte.");
  each_address(m, [&](const TargetSeries&, const AddressSeries& a, const std::string& l) {
    for (Mode mode : kModes) {
      w.sample("echo_probe_verified_total", l + "," + label("mode", mode_name(mode)),
               static_cast<double>(a.mode(mode).verified));
    }
  });
  w.header("echo_probe_errors_total", "counter",
           "Failed probes by error class (dns errors have an empty address).");
  for (const auto& t : m.series()) {
    w.sample("echo_probe_errors_total",
             label("target", t->target) + ",address=\"\",mode=\"new\",class=\"dns\"",
             static_cast<double>(t->dns_errors));
  }
  each_address(m, [&](const TargetSeries&, const AddressSeries& a, const std::string& l) {
    for (Mode mode : kModes) {
      for (ErrorClass c : kAllErrorClasses) {
        if (c == ErrorClass::kDns) continue;  // per target, above
        w.sample("echo_probe_errors_total",
                 l + "," + label("mode", mode_name(mode)) + "," +
                     label("class", std::string(error_class_name(c))),
                 static_cast<double>(a.mode(mode).errors[c]));
      }
    }
  });
  w.header("echo_probe_rtt_seconds", "histogram", "Echo round-trip time.");
  each_address(m, [&](const TargetSeries&, const AddressSeries& a, const std::string& l) {
    for (Mode mode : kModes) {
      w.histogram("echo_probe_rtt_seconds", l + "," + label("mode", mode_name(mode)),
                  a.mode(mode).rtt_ns);
    }
  });
  w.header("echo_probe_connect_seconds", "histogram", "TCP connect (handshake) time.");
  each_address(m, [&](const TargetSeries&, const AddressSeries& a, const std::string& l) {
    w.histogram("echo_probe_connect_seconds", l, a.connect_ns);
  });
  w.header("echo_probe_tls_handshake_seconds", "histogram",
           "TLS handshake time, from TCP connected to TLS ready (tls:// targets).");
  each_address(m, [&](const TargetSeries& t, const AddressSeries& a, const std::string& l) {
    if (t.tls) w.histogram("echo_probe_tls_handshake_seconds", l, a.tls_handshake_ns);
  });
  w.header("echo_probe_persistent_connections", "gauge", "Persistent connections open now.");
  each_address(m, [&](const TargetSeries&, const AddressSeries& a, const std::string& l) {
    w.sample("echo_probe_persistent_connections", l, a.persistent_connections);
  });
  w.header("echo_probe_breaks_total", "counter",
           "Persistent connections that ended, by class (graceful = FIN, nothing lost).");
  each_address(m, [&](const TargetSeries&, const AddressSeries& a, const std::string& l) {
    for (int c = 0; c < kBreakClassCount; ++c) {
      w.sample("echo_probe_breaks_total",
               l + "," + label("class", break_class_name(static_cast<BreakClass>(c))),
               static_cast<double>(a.breaks[c]));
    }
  });
  w.header("echo_probe_reconnect_seconds", "histogram",
           "Time from a persistent connection's break to the next verified echo.");
  for (const auto& t : m.series()) {
    w.histogram("echo_probe_reconnect_seconds", label("target", t->target), t->reconnect_ns);
  }
  w.header("echo_probe_last_success_timestamp_seconds", "gauge",
           "Unix time of the last verified echo (0 = none yet).");
  each_address(m, [&](const TargetSeries&, const AddressSeries& a, const std::string& l) {
    w.sample("echo_probe_last_success_timestamp_seconds", l, a.last_success_unix);
  });
  w.text() += render_process_metrics();
  return std::move(w.text());
}

}  // namespace echo_probe::monitor
