// TlsContext against certificates the test makes with the real openssl CLI: a good pair
// loads and reports its expiry; every broken input is one line naming the setting; a
// Kubernetes-style symlink swap is noticed.
#include "tls_context.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <string>

namespace echod {
namespace {

namespace fs = std::filesystem;

class TlsFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/echod-tls-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { fs::remove_all(dir_); }

  /// A self-signed certificate and its key, valid for `days`, named NAME.crt / NAME.key.
  void make_pair(const std::string& name, int days = 30) {
    const std::string cmd = "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes"
                            " -subj /CN=" + name + " -days " + std::to_string(days) +
                            " -keyout " + path(name + ".key") + " -out " + path(name + ".crt") +
                            " >/dev/null 2>&1";
    ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  }
  std::string path(const std::string& file) const { return dir_ + "/" + file; }
  static std::string error_of(const TlsSettings& s) {
    auto r = TlsContext::load(s);
    return std::holds_alternative<std::string>(r) ? std::get<std::string>(r) : "";
  }

  std::string dir_;
};

TEST_F(TlsFiles, AGoodPairLoadsAndReportsTheLeafsExpiry) {
  make_pair("a", 30);
  auto r = TlsContext::load({path("a.crt"), path("a.key"), "", 12});
  ASSERT_TRUE(std::holds_alternative<std::shared_ptr<const TlsContext>>(r))
      << std::get<std::string>(r);
  const auto& ctx = std::get<std::shared_ptr<const TlsContext>>(r);
  EXPECT_NE(ctx->native(), nullptr);
  const double in_30_days = static_cast<double>(std::time(nullptr)) + 30 * 86400.0;
  EXPECT_NEAR(ctx->leaf_not_after_unix(), in_30_days, 3600);
}

TEST_F(TlsFiles, AClientCaTurnsOnClientCertificates) {
  make_pair("a");
  make_pair("ca");
  auto r = TlsContext::load({path("a.crt"), path("a.key"), path("ca.crt"), 13});
  ASSERT_TRUE(std::holds_alternative<std::shared_ptr<const TlsContext>>(r))
      << std::get<std::string>(r);
}

TEST_F(TlsFiles, EveryBrokenInputIsOneLineNamingTheSetting) {
  make_pair("a");
  make_pair("b");
  std::ofstream(path("junk.pem")) << "not a certificate\n";
  EXPECT_EQ(error_of({"", path("a.key"), "", 12}).rfind("tls_cert: not set", 0), 0u);
  EXPECT_EQ(error_of({path("a.crt"), "", "", 12}).rfind("tls_key: not set", 0), 0u);
  EXPECT_EQ(error_of({path("missing.crt"), path("a.key"), "", 12}),
            "tls_cert: cannot read " + path("missing.crt") + ": No such file or directory");
  EXPECT_EQ(error_of({path("a.crt"), path("b.key"), "", 12}),
            "tls_key: " + path("b.key") + " does not match the certificate in " + path("a.crt"));
  EXPECT_EQ(error_of({path("junk.pem"), path("a.key"), "", 12}).rfind("tls_cert: ", 0), 0u);
  EXPECT_EQ(error_of({path("a.crt"), path("junk.pem"), "", 12}).rfind("tls_key: ", 0), 0u);
  EXPECT_EQ(error_of({path("a.crt"), path("a.key"), path("junk.pem"), 12}).rfind("tls_client_ca: ", 0),
            0u);
  for (const auto& e : {error_of({path("a.crt"), path("b.key"), "", 12}),
                        error_of({path("junk.pem"), path("a.key"), "", 12})}) {
    EXPECT_EQ(e.find('\n'), std::string::npos) << e;
  }
}

TEST_F(TlsFiles, TheWatchSeesAKubernetesSecretSymlinkSwap) {
  // A mounted Secret: tls.crt -> ..data/tls.crt, ..data -> ..v1; an update points ..data at ..v2.
  make_pair("a");
  make_pair("b");
  for (const char* v : {"..v1", "..v2"}) fs::create_directory(path(v));
  fs::copy_file(path("a.crt"), path("..v1/tls.crt"));
  fs::copy_file(path("a.key"), path("..v1/tls.key"));
  fs::copy_file(path("b.crt"), path("..v2/tls.crt"));
  fs::copy_file(path("b.key"), path("..v2/tls.key"));
  fs::create_directory_symlink("..v1", path("..data"));
  fs::create_symlink("..data/tls.crt", path("tls.crt"));
  fs::create_symlink("..data/tls.key", path("tls.key"));
  TlsFileWatch watch({path("tls.crt"), path("tls.key"), "", 12});
  EXPECT_FALSE(watch.changed());
  fs::create_directory_symlink("..v2", path("..data_tmp"));
  fs::rename(path("..data_tmp"), path("..data"));  // atomic, as the kubelet does it
  EXPECT_TRUE(watch.changed());
  EXPECT_FALSE(watch.changed()) << "one change is reported once";
}

}  // namespace
}  // namespace echod
