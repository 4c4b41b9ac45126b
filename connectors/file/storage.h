// Where a file connector's files live: the local disk, an object store (s3://,
// gs://, az:// and abfss://) or a web server (http://, https://: read-only, see
// http_fs.h), behind one arrow::fs::FileSystem. Paths stay URIs
// everywhere else in the connector ("s3://bucket/key", "data/x.csv"): they are what
// errors, EXPLAIN and the filename column show. Storage maps them to the paths its
// FileSystem takes.
#pragma once

#include <arrow/filesystem/type_fwd.h>
#include <arrow/io/type_fwd.h>

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "flowsql/options.h"

namespace flowsql::file {

/// The options that reach an object store: endpoint, region, credentials. Shared by
/// the file source and sink; secrets are declared secret (redacted everywhere).
std::vector<OptionSpec> StorageOptionSpecs();

/// Shuts down the object-store clients (the AWS SDK). Call once, at exit.
void ShutdownStorage();

class Storage {
 public:
  /// The storage of `uri`. Credentials and endpoints come from `options` first, then
  /// from the store's usual environment (AWS_*, GOOGLE_APPLICATION_CREDENTIALS,
  /// STORAGE_EMULATOR_HOST, AZURE_STORAGE_*). A local path needs no options.
  static Result<std::shared_ptr<const Storage>> Open(const std::string& uri,
                                                     const Options& options);
  /// The local disk.
  static std::shared_ptr<const Storage> Local();

  bool local() const { return scheme_.empty(); }
  /// "s3", "gs", "az", "abfss", "http", "https"; "" for the local disk.
  const std::string& scheme() const { return scheme_; }
  const std::shared_ptr<arrow::fs::FileSystem>& filesystem() const { return fs_; }
  /// True when an output stream publishes its object only when closed, whole, and
  /// Abort() publishes nothing (an S3 multipart upload): a part can be written in
  /// place. Arrow's GCS and Azure streams publish what they have on Abort().
  bool atomic_uploads() const { return scheme_ == "s3" || scheme_ == "s3a"; }

  /// The path within filesystem() of `uri`: "s3://b/k" -> "b/k"; a local path stays.
  std::string PathOf(const std::string& uri) const;
  /// The URI of filesystem() path `path`: "b/k" -> "s3://b/k".
  std::string UriOf(const std::string& path) const;
  /// `dir` and `name` joined with one '/'.
  static std::string Join(const std::string& dir, const std::string& name);

  Result<std::shared_ptr<arrow::io::RandomAccessFile>> OpenFile(
      const std::string& uri) const;
  Result<std::shared_ptr<arrow::io::InputStream>> OpenStream(
      const std::string& uri) const;
  /// Opens `uri` for writing, replacing what is there when the stream is closed.
  Result<std::shared_ptr<arrow::io::OutputStream>> OpenOutput(
      const std::string& uri) const;

  enum class Kind { kMissing, kFile, kDirectory };
  Result<Kind> KindOf(const std::string& uri) const;
  /// The size in bytes of file `uri` (on an object store, as its listing gave it).
  Result<int64_t> Size(const std::string& uri) const;
  /// The files below folder `dir`, recursively, as paths relative to it ("a/b.csv").
  /// Names starting with '.' or '_' (temporary files, _SUCCESS, _temporary/) and what
  /// lies below them are left out, unless `hidden`. A folder that does not exist holds
  /// nothing.
  Status ListFiles(const std::string& dir, std::vector<std::string>* out,
                   bool hidden = false) const;
  /// True when a segment of `relative` (as ListFiles gives it) starts with '.' or '_':
  /// a file a listing without `hidden` leaves out.
  static bool IsHidden(const std::string& relative);
  Status DeleteFile(const std::string& uri) const;
  /// Writes `data` as file `uri` only when no file is there, atomically: true when
  /// written, false when a file was there (another writer's). Locally a temporary
  /// file, synced, then hard-linked to the name (link() fails on an existing name);
  /// on S3 one PUT with If-None-Match: * (S3's conditional write, as MinIO and moto
  /// have it), signed (SigV4) with access_key_id / secret_access_key or
  /// AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY; on Azure a Put Blob with
  /// If-None-Match: *, signed with the account key or a SAS token. Sent once: an
  /// answer lost on the way is an error, never taken for "absent". GCS:
  /// NotImplemented.
  Result<bool> PutIfAbsent(const std::string& uri, const std::string& data) const;
  /// True when PutIfAbsent works here: the local disk, S3, Azure.
  bool conditional_puts() const { return local() || s3_ || azure_; }
  /// Copies `from` to `to` within the store (server-side for object stores).
  Status CopyFile(const std::string& from, const std::string& to) const;
  /// Renames file `from` to `to`, replacing it: rename() on the local disk (atomic), a
  /// server-side copy then a delete on object stores (`to` appears whole).
  Status MoveFile(const std::string& from, const std::string& to) const;

  /// What a signed S3 request needs (PutIfAbsent), and Arrow's S3 filesystem.
  struct S3Access {
    std::string scheme = "https";
    std::string authority;  // the endpoint's host[:port]; empty: AWS's
    bool vhost = false;     // url_style vhost: bucket.host/key, not host/bucket/key
    std::string region, key, secret, token;
    bool key_given = false;  // access_key_id was an option (else from the AWS chain)
    bool anonymous = false;
  };
  /// What a signed Azure request needs (PutIfAbsent), and Arrow's Azure filesystem.
  struct AzureAccess {
    std::string account;
    std::string scheme = "https";
    std::string authority;  // the endpoint's host[:port]; empty: the account's
    std::string key, sas;
    bool anonymous = false;
  };

 private:
  Storage(std::string scheme, std::string prefix,
          std::shared_ptr<arrow::fs::FileSystem> fs)
      : scheme_(std::move(scheme)), prefix_(std::move(prefix)), fs_(std::move(fs)) {}
  /// Prefixes an error with `uri`, as the connector's errors are.
  Status Named(const Status& st, const std::string& uri) const;

  std::string scheme_;
  std::optional<S3Access> s3_;
  std::optional<AzureAccess> azure_;
  /// PutIfAbsent on Azure: a Put Blob with If-None-Match: *, signed with the
  /// account's key (Shared Key) or a SAS token.
  Result<bool> AzurePutIfAbsent(const std::string& uri, const std::string& data) const;
  /// What PathOf() strips and UriOf() adds: "s3://"; "abfss://container@host/" maps
  /// to "container/".
  std::string prefix_;
  std::shared_ptr<arrow::fs::FileSystem> fs_;
  /// Object stores: the sizes the last listings gave, by URI, for OpenFile().
  mutable std::mutex sizes_mutex_;
  mutable std::map<std::string, int64_t> listed_sizes_;
};

}  // namespace flowsql::file
