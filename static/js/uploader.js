/* Resumable uploads for the creator portal (progressive enhancement of the upload form).
 *
 * Without this script the form posts every file in one request. With it, each file becomes
 * an upload session of the API (/api/v1/versions/{id}/uploads/):
 * - "chunked" (local storage): consecutive PUTs with Content-Range; after a failure the
 *   script asks the session for its confirmed offset and resumes there;
 * - "s3_multipart": parts PUT straight to S3 with presigned URLs; parts S3 already holds
 *   are skipped.
 * A session id is remembered per file (name, size, modification time), so choosing the same
 * file again after a dropped connection or a closed tab resumes instead of restarting.
 */
(function () {
  "use strict";

  var form = document.querySelector("form.uploader");
  if (!form || !window.fetch || !window.Blob || !Blob.prototype.slice) {
    return;
  }
  var input = form.querySelector('input[type="file"][name="files"]');
  var folder = form.querySelector("#upload-folder");
  var folderField = form.querySelector(".folder-field");
  if (folderField && folder && "webkitdirectory" in folder) {
    // Folders need the script (the plain form would drop their paths): show the picker now.
    folderField.hidden = false;
    input.required = false;
  }
  var expand = form.querySelector('input[name="expand_archives"]');
  var list = form.querySelector(".upload-list");
  var button = form.querySelector('button[type="submit"]');
  var suffixes = (form.dataset.archiveSuffixes || "").split(",");
  var MAX_RETRIES = 8;

  function csrfToken() {
    try {
      return JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRFToken"];
    } catch (error) {
      var match = document.cookie.match(/(?:^|; )csrftoken=([^;]+)/);
      return match ? decodeURIComponent(match[1]) : "";
    }
  }

  function sleep(milliseconds) {
    return new Promise(function (resolve) { setTimeout(resolve, milliseconds); });
  }

  function api(method, url, body, headers) {
    var options = {
      method: method,
      credentials: "same-origin",
      headers: Object.assign({ "X-CSRFToken": csrfToken(), Accept: "application/json" }, headers || {}),
    };
    if (body instanceof Blob) {
      options.body = body;
    } else if (body !== undefined) {
      options.body = JSON.stringify(body);
      options.headers["Content-Type"] = "application/json";
    }
    return fetch(url, options).then(function (response) {
      if (response.status === 204) { return null; }
      return response.json().catch(function () { return {}; }).then(function (data) {
        if (!response.ok) {
          var error = new Error(data.detail || response.statusText || "The upload failed.");
          error.status = response.status;
          error.data = data;
          throw error;
        }
        return data;
      });
    });
  }

  function Row(file) {
    this.item = document.createElement("li");
    var name = document.createElement("span");
    name.className = "name";
    name.textContent = file.webkitRelativePath || file.name;
    var meter = document.createElement("div");
    meter.className = "meter";
    meter.setAttribute("role", "progressbar");
    meter.setAttribute("aria-label", "Upload of " + name.textContent);
    this.bar = document.createElement("span");
    this.bar.style.width = "0%";
    meter.appendChild(this.bar);
    this.meter = meter;
    this.text = document.createElement("span");
    this.text.className = "percent";
    this.text.textContent = "0%";
    this.item.appendChild(name);
    this.item.appendChild(meter);
    this.item.appendChild(this.text);
    list.appendChild(this.item);
  }
  Row.prototype.progress = function (fraction) {
    var percent = Math.floor(Math.min(1, fraction) * 100);
    this.bar.style.width = percent + "%";
    this.meter.setAttribute("aria-valuenow", String(percent));
    this.text.textContent = percent + "%";
  };
  Row.prototype.done = function (label) {
    this.progress(1);
    this.item.className = "done";
    this.text.textContent = label || "done";
  };
  Row.prototype.fail = function (message) {
    this.item.className = "failed";
    this.text.textContent = "failed";
    this.item.title = message;
    var detail = document.createElement("span");
    detail.className = "error";
    detail.textContent = message;
    detail.style.gridColumn = "1 / -1";
    this.item.appendChild(detail);
  };

  function isArchive(file) {
    var name = file.name.toLowerCase();
    return Boolean(expand && expand.checked) && suffixes.some(function (suffix) {
      return suffix && name.endsWith(suffix);
    });
  }

  function retrying(attempt) {
    // Client errors other than a conflict will not heal by trying again.
    return function (error) {
      if (error.status && error.status < 500 && error.status !== 409 && error.status !== 429) {
        throw error;
      }
      if (attempt >= MAX_RETRIES) { throw error; }
      return sleep(Math.min(30000, 500 * Math.pow(2, attempt))).then(function () { return null; });
    };
  }

  async function sendChunks(file, session, row) {
    var offset = session.received_bytes;
    var attempt = 0;
    row.progress(file.size ? offset / file.size : 1);
    while (offset < file.size) {
      var end = Math.min(offset + session.chunk_size, file.size);
      var result = await api("PUT", session.upload_url, file.slice(offset, end), {
        "Content-Range": "bytes " + offset + "-" + (end - 1) + "/" + file.size,
        "Content-Type": "application/octet-stream",
      }).catch(retrying(attempt));
      if (result) {
        offset = result.received_bytes;
        attempt = 0;
      } else {
        attempt += 1;
        // Ask where the upload stands: the server's offset is the truth.
        var fresh = await api("GET", session.upload_url).catch(function () { return null; });
        if (fresh) { offset = fresh.received_bytes; }
      }
      row.progress(offset / file.size);
    }
  }

  async function putPart(url, blob) {
    var response = await fetch(url, {
      method: "PUT",
      body: blob,
      headers: { "Content-Type": "application/octet-stream" },
    });
    if (!response.ok) {
      var error = new Error("Storage refused a part (" + response.status + ").");
      error.status = response.status >= 500 ? response.status : 502;
      throw error;
    }
  }

  async function sendParts(file, session, row) {
    var held = {};
    var sent = 0;
    (session.parts || []).forEach(function (part) { held[part.part_number] = true; sent += part.size; });
    var missing = [];
    for (var number = 1; number <= session.part_count; number += 1) {
      if (!held[number]) { missing.push(number); }
    }
    row.progress(file.size ? sent / file.size : 1);
    for (var index = 0; index < missing.length; index += 20) {
      var batch = missing.slice(index, index + 20);
      var urls = await api("POST", session.upload_url + "parts/", { part_numbers: batch });
      for (var i = 0; i < urls.length; i += 1) {
        var part = urls[i];
        var start = (part.part_number - 1) * session.part_size_bytes;
        var blob = file.slice(start, start + part.size);
        for (var attempt = 0; ; attempt += 1) {
          var ok = await putPart(part.url, blob).then(function () { return true; }).catch(retrying(attempt));
          if (ok) { break; }
        }
        sent += part.size;
        row.progress(sent / file.size);
      }
    }
  }

  async function uploadFile(file, row) {
    var path = file.webkitRelativePath || file.name;
    var key = ["wellspring-upload", form.dataset.version, path, file.size, file.lastModified].join(":");
    var session = null;
    var saved = window.localStorage && localStorage.getItem(key);
    if (saved) {
      session = await api("GET", "/api/v1/uploads/" + encodeURIComponent(saved) + "/").catch(function () { return null; });
      if (session && session.state !== "open") { session = null; }
    }
    if (!session) {
      session = await api("POST", form.dataset.uploadsUrl, {
        path: path,
        size: file.size,
        expand_archive: isArchive(file),
      });
    }
    if (window.localStorage) { localStorage.setItem(key, session.id); }
    if (session.backend === "s3_multipart") {
      await sendParts(file, session, row);
    } else {
      await sendChunks(file, session, row);
    }
    var result = await api("POST", session.upload_url + "complete/");
    if (window.localStorage) { localStorage.removeItem(key); }
    row.done(result && result.archive ? "archive" : "done");
  }

  form.addEventListener("submit", async function (event) {
    var files = Array.prototype.slice.call(input.files || []).concat(
      Array.prototype.slice.call((folder && folder.files) || [])
    );
    if (!files.length) { return; }
    event.preventDefault();
    button.disabled = true;
    list.textContent = "";
    var failed = 0;
    var rows = files.map(function (file) { return new Row(file); });
    for (var index = 0; index < files.length; index += 1) {
      try {
        await uploadFile(files[index], rows[index]);
      } catch (error) {
        failed += 1;
        rows[index].fail(error.message);
      }
    }
    button.disabled = false;
    if (!failed) {
      window.location.reload();
      return;
    }
    var note = document.createElement("li");
    note.className = "failed";
    note.textContent = failed + " of " + files.length + " uploads failed. Choose the files again to resume; what arrived is kept.";
    list.appendChild(note);
  });
})();
