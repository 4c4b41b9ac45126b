#include "connectors/file/storage.h"

#include <arrow/filesystem/azurefs.h>
#include <arrow/filesystem/gcsfs.h>
#include <arrow/filesystem/localfs.h>
#include <arrow/filesystem/s3fs.h>
#include <arrow/io/file.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>

#include "common/http_client.h"
#include "common/secrets.h"
#include "common/text.h"
#include "connectors/file/http_fs.h"
#include "connectors/file/partitions.h"
#include "connectors/file/sink_settings.h"

namespace flowsql::file {

namespace {

namespace stdfs = std::filesystem;

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v == nullptr ? "" : v;
}

/// An option when set, else the first environment variable that is.
std::string OptionOrEnv(const Options& options, const std::string& option,
                        std::initializer_list<const char*> env) {
  if (options.IsSet(option)) return options.GetString(option);
  for (const char* name : env) {
    std::string v = Env(name);
    if (!v.empty()) return v;
  }
  return "";
}

/// "http://host:9000/x" -> scheme "http", authority "host:9000"; a bare "host:9000"
/// keeps `scheme`.
void SplitEndpoint(const std::string& endpoint, std::string* scheme,
                   std::string* authority) {
  std::string rest = endpoint;
  const size_t colon = rest.find("://");
  if (colon != std::string::npos) {
    *scheme = AsciiLower(rest.substr(0, colon));
    rest = rest.substr(colon + 3);
  }
  const size_t slash = rest.find('/');
  *authority = slash == std::string::npos ? rest : rest.substr(0, slash);
}

/// The value of `key` in an Azure connection string ("A=1;B=2").
std::string ConnectionStringValue(const std::string& text, const std::string& key) {
  std::stringstream in(text);
  std::string part;
  while (std::getline(in, part, ';')) {
    const size_t eq = part.find('=');
    if (eq != std::string::npos && AsciiLower(part.substr(0, eq)) == AsciiLower(key)) {
      return part.substr(eq + 1);
    }
  }
  return "";
}

/// The current time as HTTP has it: "Tue, 01 Dec 2026 10:00:00 GMT".
std::string HttpDate() {
  const std::time_t now = std::time(nullptr);
  std::tm utc{};
  gmtime_r(&now, &utc);
  char text[64];
  std::strftime(text, sizeof(text), "%a, %d %b %Y %H:%M:%S GMT", &utc);
  return text;
}

/// HMAC-SHA256 of `text` keyed with base64 `key`, in base64 (Azure's Shared Key).
Result<std::string> HmacSha256Base64(const std::string& key, const std::string& text) {
  std::string raw((key.size() / 4 + 1) * 3, '\0');
  const int decoded = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(raw.data()),
                                      reinterpret_cast<const unsigned char*>(key.data()),
                                      static_cast<int>(key.size()));
  if (decoded < 0) return Status::Invalid("the Azure account key is not base64");
  size_t padding = 0;
  for (size_t i = key.size(); i > 0 && key[i - 1] == '='; --i) ++padding;
  raw.resize(static_cast<size_t>(decoded) - padding);
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  HMAC(EVP_sha256(), raw.data(), static_cast<int>(raw.size()),
       reinterpret_cast<const unsigned char*>(text.data()), text.size(), mac, &size);
  std::string out(4 * ((size + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), mac,
                                static_cast<int>(size));
  out.resize(static_cast<size_t>(n));
  return out;
}

/// The SHA-256 of `data`, in lower-case hex (S3's x-amz-content-sha256).
std::string Sha256Hex(const std::string& data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  EVP_Digest(data.data(), data.size(), digest, &size, EVP_sha256(), nullptr);
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < size; ++i) {
    out.push_back(hex[digest[i] >> 4]);
    out.push_back(hex[digest[i] & 15]);
  }
  return out;
}

Status EnsureS3() {
  static std::once_flag once;
  static Status status;
  std::call_once(once, [] {
    arrow::fs::S3GlobalOptions global = arrow::fs::S3GlobalOptions::Defaults();
    global.log_level = arrow::fs::S3LogLevel::Fatal;
    status = arrow::fs::InitializeS3(global);
    // The AWS SDK must be shut down before static destructors run.
  });
  return status;
}

}  // namespace

void ShutdownStorage() {
  if (arrow::fs::IsS3Initialized()) (void)arrow::fs::EnsureS3Finalized();
}

namespace {

/// The endpoint and credentials of an S3 URI: options first, then AWS_*.
Storage::S3Access ResolveS3(const Options& o) {
  Storage::S3Access s3;
  s3.key = OptionOrEnv(o, "access_key_id", {"AWS_ACCESS_KEY_ID"});
  s3.secret = OptionOrEnv(o, "secret_access_key", {"AWS_SECRET_ACCESS_KEY"});
  s3.token = OptionOrEnv(o, "session_token", {"AWS_SESSION_TOKEN"});
  RegisterSecret(s3.secret);
  RegisterSecret(s3.token);
  s3.key_given = o.IsSet("access_key_id");
  s3.anonymous = o.GetBool("anonymous", false);
  s3.region = OptionOrEnv(o, "region", {"AWS_REGION", "AWS_DEFAULT_REGION"});
  if (s3.region.empty()) s3.region = "us-east-1";
  const std::string endpoint =
      OptionOrEnv(o, "endpoint", {"AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"});
  if (!endpoint.empty()) {
    s3.scheme = o.GetBool("use_ssl", true) ? "https" : "http";
    SplitEndpoint(endpoint, &s3.scheme, &s3.authority);
  }
  const std::string style = AsciiLower(o.GetString("url_style", ""));
  s3.vhost = style == "vhost" || style == "virtual";
  return s3;
}

Result<std::shared_ptr<arrow::fs::FileSystem>> MakeS3(const Storage::S3Access& access) {
  ARROW_RETURN_NOT_OK(EnsureS3());
  arrow::fs::S3Options s3;
  if (access.anonymous) {
    s3 = arrow::fs::S3Options::Anonymous();
  } else if (!access.key.empty() && access.key_given) {
    s3 = arrow::fs::S3Options::FromAccessKey(access.key, access.secret, access.token);
  } else {
    // The AWS chain: AWS_ACCESS_KEY_ID..., AWS_PROFILE and ~/.aws, instance roles.
    s3 = arrow::fs::S3Options::Defaults();
  }
  s3.region = access.region;
  if (!access.authority.empty()) {
    s3.endpoint_override = access.authority;
    s3.scheme = access.scheme;
  }
  s3.force_virtual_addressing = access.vhost;
  // A write must not make buckets appear; a missing bucket is an error.
  s3.allow_bucket_creation = false;
  s3.connect_timeout = 10;
  ARROW_ASSIGN_OR_RAISE(auto fs, arrow::fs::S3FileSystem::Make(s3));
  return std::static_pointer_cast<arrow::fs::FileSystem>(fs);
}

Result<std::shared_ptr<arrow::fs::FileSystem>> MakeGcs(const Options& o) {
  arrow::fs::GcsOptions gcs;
  const std::string credentials =
      OptionOrEnv(o, "credentials_file", {"GOOGLE_APPLICATION_CREDENTIALS"});
  // fake-gcs-server and Google's emulators: STORAGE_EMULATOR_HOST, no credentials.
  std::string endpoint = OptionOrEnv(
      o, "endpoint", {"STORAGE_EMULATOR_HOST", "CLOUD_STORAGE_EMULATOR_ENDPOINT"});
  const bool emulator = !o.IsSet("endpoint") && !endpoint.empty();
  if (o.GetBool("anonymous", false) || (emulator && credentials.empty())) {
    gcs = arrow::fs::GcsOptions::Anonymous();
  } else if (!credentials.empty() && o.IsSet("credentials_file")) {
    std::ifstream in(credentials);
    if (!in)
      return Status::IOError("option 'credentials_file': cannot read ", credentials);
    std::stringstream json;
    json << in.rdbuf();
    gcs = arrow::fs::GcsOptions::FromServiceAccountCredentials(json.str());
  } else {
    gcs = arrow::fs::GcsOptions::Defaults();
  }
  if (!endpoint.empty()) {
    std::string scheme = o.GetBool("use_ssl", !emulator) ? "https" : "http";
    SplitEndpoint(endpoint, &scheme, &gcs.endpoint_override);
    gcs.scheme = scheme;
  }
  if (o.IsSet("project_id")) gcs.project_id = o.GetString("project_id");
  gcs.retry_limit_seconds = 15;
  ARROW_ASSIGN_OR_RAISE(auto fs, arrow::fs::GcsFileSystem::Make(gcs));
  return std::static_pointer_cast<arrow::fs::FileSystem>(fs);
}

/// The account, endpoint and credentials of an Azure URI: options first, then the
/// connection string, then AZURE_STORAGE_*. `account`: from an abfss:// URI's host,
/// else empty.
Result<Storage::AzureAccess> ResolveAzure(const Options& o, std::string account) {
  Storage::AzureAccess az;
  const std::string connection =
      OptionOrEnv(o, "connection_string", {"AZURE_STORAGE_CONNECTION_STRING"});
  RegisterSecret(connection);
  if (account.empty()) account = ConnectionStringValue(connection, "AccountName");
  if (o.IsSet("account_name") || account.empty()) {
    account = OptionOrEnv(o, "account_name",
                          {"AZURE_STORAGE_ACCOUNT_NAME", "AZURE_STORAGE_ACCOUNT"});
  }
  if (account.empty()) {
    return Status::Invalid(
        "Azure: no storage account; set option account_name, an abfss:// URI with "
        "container@account.dfs.core.windows.net, or AZURE_STORAGE_CONNECTION_STRING");
  }
  az.account = account;
  std::string endpoint = o.GetString("endpoint", "");
  if (endpoint.empty()) endpoint = ConnectionStringValue(connection, "BlobEndpoint");
  if (!endpoint.empty()) {
    az.scheme = o.GetBool("use_ssl", true) ? "https" : "http";
    SplitEndpoint(endpoint, &az.scheme, &az.authority);
  }
  az.key =
      OptionOrEnv(o, "account_key", {"AZURE_STORAGE_KEY", "AZURE_STORAGE_ACCOUNT_KEY"});
  if (az.key.empty()) az.key = ConnectionStringValue(connection, "AccountKey");
  az.sas = OptionOrEnv(o, "sas_token", {"AZURE_STORAGE_SAS_TOKEN"});
  if (az.sas.empty()) az.sas = ConnectionStringValue(connection, "SharedAccessSignature");
  RegisterSecret(az.key);
  RegisterSecret(az.sas);
  az.anonymous = o.GetBool("anonymous", false);
  return az;
}

Result<std::shared_ptr<arrow::fs::FileSystem>> MakeAzure(
    const Storage::AzureAccess& access) {
  arrow::fs::AzureOptions az;
  az.account_name = access.account;
  if (!access.authority.empty()) {
    az.blob_storage_authority = az.dfs_storage_authority = access.authority;
    az.blob_storage_scheme = az.dfs_storage_scheme = access.scheme;
  }
  if (access.anonymous) {
    ARROW_RETURN_NOT_OK(az.ConfigureAnonymousCredential());
  } else if (!access.key.empty()) {
    ARROW_RETURN_NOT_OK(az.ConfigureAccountKeyCredential(access.key));
  } else if (!access.sas.empty()) {
    ARROW_RETURN_NOT_OK(az.ConfigureSASCredential(access.sas));
  } else {
    ARROW_RETURN_NOT_OK(az.ConfigureDefaultCredential());
  }
  ARROW_ASSIGN_OR_RAISE(auto fs, arrow::fs::AzureFileSystem::Make(az));
  return std::static_pointer_cast<arrow::fs::FileSystem>(fs);
}

/// Runs a read-only request again when the connection failed under it, up to 3 times:
/// the Azure SDK can hand out pooled connections the server has closed (and retries
/// on the same broken set; azure-sdk-for-cpp issue 4206).
template <typename F>
auto Retrying(F&& f) -> decltype(f()) {
  auto result = f();
  for (int attempt = 1; attempt < 3 && !result.ok() &&
                        result.status().message().find("onnection") != std::string::npos;
       ++attempt) {
    result = f();
  }
  return result;
}

/// Names that listings leave out.
bool Hidden(const std::string& name) {
  return name.empty() || name[0] == '.' || name[0] == '_';
}

}  // namespace

std::vector<OptionSpec> StorageOptionSpecs() {
  using T = OptionType;
  return {
      {"endpoint",
       T::kString,
       "",
       "Object stores: the server, 'http://127.0.0.1:9000' or 'host:port' (S3: "
       "AWS_ENDPOINT_URL; GCS: STORAGE_EMULATOR_HOST; Azure: the connection string's "
       "BlobEndpoint).",
       {"s3_endpoint", "endpoint_url", "endpoint_override"}},
      {"region",
       T::kString,
       "",
       "S3: the region (AWS_REGION, AWS_DEFAULT_REGION; default us-east-1).",
       {"s3_region", "aws_region"}},
      {"access_key_id",
       T::kString,
       "",
       "S3: access key id; overrides the AWS credential chain (AWS_ACCESS_KEY_ID, "
       "AWS_PROFILE, instance roles).",
       {"s3_access_key_id", "key_id", "aws_access_key_id"}},
      {"secret_access_key",
       T::kString,
       "",
       "S3: secret access key, with access_key_id. Secret: never shown.",
       {"s3_secret_access_key", "secret", "aws_secret_access_key"},
       {},
       true},
      {"session_token",
       T::kString,
       "",
       "S3: session token of temporary credentials. Secret: never shown.",
       {"s3_session_token", "aws_session_token"},
       {},
       true},
      {"url_style",
       T::kEnum,
       "path",
       "S3: path (https://host/bucket/key, as MinIO and moto need) or vhost "
       "(https://bucket.host/key).",
       {"s3_url_style"},
       {"path", "vhost"}},
      {"use_ssl",
       T::kBool,
       "true",
       "Object stores: https when endpoint names no scheme.",
       {"s3_use_ssl"}},
      {"anonymous",
       T::kBool,
       "false",
       "Object stores: no credentials (public buckets).",
       {}},
      {"credentials_file",
       T::kString,
       "",
       "GCS: a service account key file (GOOGLE_APPLICATION_CREDENTIALS).",
       {"gcs_credentials_file"}},
      {"project_id", T::kString, "", "GCS: the project.", {"gcs_project_id"}},
      {"account_name",
       T::kString,
       "",
       "Azure: the storage account (AZURE_STORAGE_ACCOUNT_NAME; or the abfss:// host).",
       {"azure_account_name"}},
      {"account_key",
       T::kString,
       "",
       "Azure: the account key (AZURE_STORAGE_KEY). Secret: never shown.",
       {"azure_account_key"},
       {},
       true},
      {"sas_token",
       T::kString,
       "",
       "Azure: a shared access signature. Secret: never shown.",
       {"azure_sas_token"},
       {},
       true},
      {"connection_string",
       T::kString,
       "",
       "Azure: a connection string (AZURE_STORAGE_CONNECTION_STRING). Secret: never "
       "shown.",
       {"azure_storage_connection_string"},
       {},
       true},
  };
}

std::shared_ptr<const Storage> Storage::Local() {
  static auto local = std::shared_ptr<const Storage>(
      new Storage("", "", std::make_shared<arrow::fs::LocalFileSystem>()));
  return local;
}

Result<std::shared_ptr<const Storage>> Storage::Open(const std::string& uri,
                                                     const Options& options) {
  const size_t colon = uri.find("://");
  if (colon == std::string::npos) return Local();
  const std::string scheme = AsciiLower(uri.substr(0, colon));
  if (scheme == "file") return Local();
  std::shared_ptr<arrow::fs::FileSystem> fs;
  std::optional<S3Access> s3;
  std::optional<AzureAccess> azure;
  std::string prefix = uri.substr(0, colon + 3);
  if (scheme == "s3" || scheme == "s3a") {
    s3 = ResolveS3(options);
    ARROW_ASSIGN_OR_RAISE(fs, MakeS3(*s3));
  } else if (scheme == "gs" || scheme == "gcs") {
    ARROW_ASSIGN_OR_RAISE(fs, MakeGcs(options));
  } else if (scheme == "az" || scheme == "azure" || scheme == "abfs" ||
             scheme == "abfss") {
    // abfss://container@account.dfs.core.windows.net/path: the account is in the
    // host, and the container@host part maps to the container.
    std::string account;
    const std::string rest = uri.substr(colon + 3);
    const size_t at = rest.find('@');
    const size_t slash = rest.find('/');
    if (at != std::string::npos && (slash == std::string::npos || at < slash)) {
      const std::string host = rest.substr(
          at + 1, slash == std::string::npos ? std::string::npos : slash - at - 1);
      account = host.substr(0, host.find('.'));
      prefix += rest.substr(0, at) + "@" + host + "/";
    }
    ARROW_ASSIGN_OR_RAISE(azure, ResolveAzure(options, account));
    ARROW_ASSIGN_OR_RAISE(fs, MakeAzure(*azure));
  } else if (scheme == "http" || scheme == "https") {
    // Paths are the URLs themselves, query included (signed URLs).
    http::RegisterUrlSecrets(uri);
    ARROW_ASSIGN_OR_RAISE(fs, MakeHttpFileSystem(options));
    prefix.clear();
  } else {
    return Status::Invalid("unsupported file URI scheme '", scheme,
                           "://' (file, s3, gs, az, abfss, http and https are)");
  }
  auto storage = std::shared_ptr<Storage>(new Storage(scheme, prefix, std::move(fs)));
  storage->s3_ = std::move(s3);
  storage->azure_ = std::move(azure);
  return std::shared_ptr<const Storage>(std::move(storage));
}

Result<bool> Storage::AzurePutIfAbsent(const std::string& uri,
                                       const std::string& data) const {
  const AzureAccess& az = *azure_;
  if (az.key.empty() && az.sas.empty()) {
    return Status::Invalid(uri,
                           ": a conditional put to Azure is signed with "
                           "account_key or sas_token (or AZURE_STORAGE_KEY, "
                           "AZURE_STORAGE_SAS_TOKEN, a connection string); none were "
                           "given");
  }
  // container/blob; the account's host, or the endpoint's with the account first.
  const std::string path = "/" + PercentEncode(PathOf(uri));
  const std::string url_path = az.authority.empty() ? path : "/" + az.account + path;
  const std::string host =
      az.authority.empty() ? az.account + ".blob.core.windows.net" : az.authority;
  http::Request request;
  request.method = "PUT";
  request.url =
      (az.authority.empty() ? std::string("https") : az.scheme) + "://" + host + url_path;
  request.body = data;
  request.max_attempts = 1;
  const std::string date = HttpDate();
  const std::string version = "2021-08-06";
  request.headers = {{"Content-Type", "application/octet-stream"},
                     {"If-None-Match", "*"},
                     {"x-ms-blob-type", "BlockBlob"},
                     {"x-ms-date", date},
                     {"x-ms-version", version}};
  if (!az.key.empty()) {
    // Shared Key: the request's canonical form, HMAC-SHA256 with the account key.
    const std::string to_sign =
        "PUT\n\n\n" + (data.empty() ? std::string() : std::to_string(data.size())) +
        "\n\napplication/"
        "octet-stream\n\n\n\n*\n\n\nx-ms-blob-type:BlockBlob\nx-ms-date:" +
        date + "\nx-ms-version:" + version + "\n/" + az.account + url_path;
    ARROW_ASSIGN_OR_RAISE(auto signature, HmacSha256Base64(az.key, to_sign));
    request.headers.emplace_back("Authorization",
                                 "SharedKey " + az.account + ":" + signature);
  } else {
    request.url += "?" + (az.sas[0] == '?' ? az.sas.substr(1) : az.sas);
  }
  http::Client client;
  ARROW_ASSIGN_OR_RAISE(auto response, client.Send(request));
  if (response.ok()) return true;
  if (response.status == 409 || response.status == 412)
    return false;  // BlobAlreadyExists
  const Status failed = http::ErrorOf(request.url, response);
  return Status::IOError(uri, ": the conditional put failed: ", failed.message());
}

Result<bool> Storage::PutIfAbsent(const std::string& uri, const std::string& data) const {
  if (local()) {
    const std::string dir = uri.substr(0, uri.rfind('/') + 1);
    const std::string temp = dir + ".tmp-" + RandomHex() + RandomHex();
    const int fd = ::open(temp.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0644);
    if (fd < 0) return Status::IOError(temp, ": ", std::strerror(errno));
    size_t written = 0;
    while (written < data.size()) {
      const ssize_t n = ::write(fd, data.data() + written, data.size() - written);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        const int e = errno;
        ::close(fd);
        ::unlink(temp.c_str());
        return Status::IOError(temp, ": ", std::strerror(e));
      }
      written += static_cast<size_t>(n);
    }
    const bool synced = ::fsync(fd) == 0;
    ::close(fd);
    if (!synced) {
      ::unlink(temp.c_str());
      return Status::IOError(temp, ": fsync failed");
    }
    const int linked = ::link(temp.c_str(), uri.c_str());
    const int e = errno;
    ::unlink(temp.c_str());
    if (linked == 0) return true;
    if (e == EEXIST) return false;
    return Status::IOError(uri, ": ", std::strerror(e));
  }
  if (azure_) return AzurePutIfAbsent(uri, data);
  if (!s3_) {
    return Status::NotImplemented(
        uri,
        ": writing a file only where none is (a conditional put) is built for S3 "
        "and local folders, not for ",
        scheme_);
  }
  if (s3_->key.empty() || s3_->secret.empty()) {
    return Status::Invalid(uri,
                           ": a conditional put to S3 is signed with "
                           "access_key_id and secret_access_key (or AWS_ACCESS_KEY_ID "
                           "and AWS_SECRET_ACCESS_KEY); none were given");
  }
  const std::string path = PathOf(uri);  // bucket/key
  const size_t slash = path.find('/');
  const std::string bucket = path.substr(0, slash);
  // The key as SigV4 signs it: '=' escaped too (libcurl signs the path as sent).
  std::string key;
  for (char c : PercentEncode(path.substr(slash + 1))) {
    key += c == '=' ? std::string("%3D") : std::string(1, c);
  }
  const std::string host =
      s3_->authority.empty() ? "s3." + s3_->region + ".amazonaws.com" : s3_->authority;
  http::Request request;
  request.method = "PUT";
  // A bucket named with dots is not a host name the TLS certificate covers.
  const bool vhost =
      (s3_->authority.empty() || s3_->vhost) && bucket.find('.') == std::string::npos;
  request.url = vhost ? s3_->scheme + "://" + bucket + "." + host + "/" + key
                      : s3_->scheme + "://" + host + "/" + bucket + "/" + key;
  request.body = data;
  request.max_attempts = 1;
  request.aws_sigv4 =
      http::AwsSigV4{"aws:amz:" + s3_->region + ":s3", s3_->key, s3_->secret};
  request.headers = {{"If-None-Match", "*"},
                     {"x-amz-content-sha256", Sha256Hex(data)},
                     {"Content-Type", "application/octet-stream"}};
  if (!s3_->token.empty())
    request.headers.emplace_back("x-amz-security-token", s3_->token);
  http::Client client;
  ARROW_ASSIGN_OR_RAISE(auto response, client.Send(request));
  if (response.ok()) return true;
  if (response.status == 412) return false;
  const Status failed = http::ErrorOf(request.url, response);
  return Status::IOError(uri, ": the conditional put failed: ", failed.message());
}

std::string Storage::PathOf(const std::string& uri) const {
  if (local() || http::IsHttpUrl(uri)) return uri;
  // "abfss://c@host/" is a prefix naming container c.
  const size_t at = prefix_.find('@');
  if (at != std::string::npos) {
    const std::string container =
        prefix_.substr(prefix_.find("://") + 3, at - prefix_.find("://") - 3);
    if (uri.rfind(prefix_, 0) == 0) return container + "/" + uri.substr(prefix_.size());
    if (uri + "/" == prefix_) return container;
  }
  const size_t colon = uri.find("://");
  std::string path = colon == std::string::npos ? uri : uri.substr(colon + 3);
  while (!path.empty() && path.back() == '/') path.pop_back();
  return path;
}

std::string Storage::UriOf(const std::string& path) const {
  if (local()) return path;
  const size_t at = prefix_.find('@');
  if (at != std::string::npos) {
    const size_t slash = path.find('/');
    return prefix_ + (slash == std::string::npos ? "" : path.substr(slash + 1));
  }
  return prefix_ + path;
}

std::string Storage::Join(const std::string& dir, const std::string& name) {
  if (dir.empty() || dir == ".") return name;
  return dir.back() == '/' ? dir + name : dir + "/" + name;
}

Status Storage::Named(const Status& st, const std::string& uri) const {
  if (st.ok()) return st;
  // HttpFileSystem's errors name their URL, its secrets removed.
  if (http::IsHttpUrl(uri)) return st;
  return st.WithMessage(uri, ": ", Redact(st.message()));
}

Result<std::shared_ptr<arrow::io::RandomAccessFile>> Storage::OpenFile(
    const std::string& uri) const {
  if (local()) {
    auto file = arrow::io::ReadableFile::Open(uri);
    if (!file.ok())
      return Status::IOError("cannot open ", uri, ": ", file.status().message());
    return std::static_pointer_cast<arrow::io::RandomAccessFile>(*file);
  }
  // A size the listing gave saves the store a request (S3: a HEAD per file).
  arrow::fs::FileInfo info(PathOf(uri), arrow::fs::FileType::File);
  {
    std::lock_guard<std::mutex> lock(sizes_mutex_);
    auto it = listed_sizes_.find(uri);
    if (it != listed_sizes_.end()) info.set_size(it->second);
  }
  auto file =
      info.size() >= 0 ? fs_->OpenInputFile(info) : fs_->OpenInputFile(info.path());
  if (!file.ok()) return Named(file.status(), uri);
  return *file;
}

Result<std::shared_ptr<arrow::io::InputStream>> Storage::OpenStream(
    const std::string& uri) const {
  if (local()) {
    ARROW_ASSIGN_OR_RAISE(auto file, OpenFile(uri));
    return std::static_pointer_cast<arrow::io::InputStream>(file);
  }
  auto in = fs_->OpenInputStream(PathOf(uri));
  if (!in.ok()) return Named(in.status(), uri);
  return *in;
}

Result<std::shared_ptr<arrow::io::OutputStream>> Storage::OpenOutput(
    const std::string& uri) const {
  auto out = fs_->OpenOutputStream(PathOf(uri));
  if (!out.ok()) return Named(out.status(), uri);
  return *out;
}

Result<Storage::Kind> Storage::KindOf(const std::string& uri) const {
  if (local()) {
    std::error_code ec;
    auto st = stdfs::status(uri, ec);
    if (stdfs::is_directory(st)) return Kind::kDirectory;
    return stdfs::exists(st) ? Kind::kFile : Kind::kMissing;
  }
  const std::string path = PathOf(uri);
  auto info = Retrying([&] { return fs_->GetFileInfo(path); });
  if (!info.ok()) return Named(info.status(), uri);
  switch (info->type()) {
    case arrow::fs::FileType::File:
      return Kind::kFile;
    case arrow::fs::FileType::Directory:
      return Kind::kDirectory;
    default:
      return Kind::kMissing;
  }
}

Result<int64_t> Storage::Size(const std::string& uri) const {
  if (local()) {
    std::error_code ec;
    auto size = stdfs::file_size(uri, ec);
    if (ec) return Status::IOError("cannot read the size of ", uri, ": ", ec.message());
    return static_cast<int64_t>(size);
  }
  {
    std::lock_guard<std::mutex> lock(sizes_mutex_);
    auto it = listed_sizes_.find(uri);
    if (it != listed_sizes_.end()) return it->second;
  }
  auto info = Retrying([&] { return fs_->GetFileInfo(PathOf(uri)); });
  if (!info.ok()) return Named(info.status(), uri);
  return info->size();
}

Status Storage::ListFiles(const std::string& dir, std::vector<std::string>* out,
                          bool hidden) const {
  if (local()) {
    const stdfs::path root(dir.empty() ? "." : dir);
    std::error_code ec;
    if (!stdfs::exists(root, ec)) return Status::OK();  // as an object store lists it
    stdfs::recursive_directory_iterator it(root, ec), end;
    for (; !ec && it != end; it.increment(ec)) {
      const std::string name = it->path().filename().string();
      if (!hidden && Hidden(name)) {
        if (it->is_directory(ec)) it.disable_recursion_pending();
        continue;
      }
      if (it->is_regular_file(ec)) {
        out->push_back(stdfs::relative(it->path(), root, ec).generic_string());
      }
    }
    if (ec) {
      return Status::IOError("cannot list directory '", root.string(),
                             "': ", ec.message());
    }
    return Status::OK();
  }
  arrow::fs::FileSelector selector;
  selector.base_dir = PathOf(dir);
  selector.recursive = true;
  selector.allow_not_found = true;
  auto infos = Retrying([&] { return fs_->GetFileInfo(selector); });
  if (!infos.ok()) return Named(infos.status(), dir);
  const std::string base = selector.base_dir + "/";
  std::lock_guard<std::mutex> lock(sizes_mutex_);
  for (const auto& info : *infos) {
    if (info.type() != arrow::fs::FileType::File) continue;
    const std::string& path = info.path();
    if (path.rfind(base, 0) != 0) continue;
    listed_sizes_[UriOf(path)] = info.size();
    std::string relative = path.substr(base.size());
    if (!hidden && IsHidden(relative)) continue;
    out->push_back(std::move(relative));
  }
  return Status::OK();
}

bool Storage::IsHidden(const std::string& relative) {
  for (size_t start = 0; start <= relative.size();) {
    size_t slash = relative.find('/', start);
    if (slash == std::string::npos) slash = relative.size();
    if (Hidden(relative.substr(start, slash - start))) return true;
    start = slash + 1;
  }
  return false;
}

Status Storage::DeleteFile(const std::string& uri) const {
  if (local()) {
    std::error_code ec;
    stdfs::remove(uri, ec);
    if (ec) return Status::IOError("cannot remove ", uri, ": ", ec.message());
    return Status::OK();
  }
  return Named(fs_->DeleteFile(PathOf(uri)), uri);
}

Status Storage::MoveFile(const std::string& from, const std::string& to) const {
  if (local()) {
    std::error_code ec;
    stdfs::rename(from, to, ec);
    if (ec)
      return Status::IOError("cannot rename ", from, " to ", to, ": ", ec.message());
    return Status::OK();
  }
  ARROW_RETURN_NOT_OK(CopyFile(from, to));
  return DeleteFile(from);
}

Status Storage::CopyFile(const std::string& from, const std::string& to) const {
  return Named(fs_->CopyFile(PathOf(from), PathOf(to)), to);
}

}  // namespace flowsql::file
