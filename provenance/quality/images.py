"""What an image file says about how it was made, and its perceptual hash.

Evidence (embedded in the file by the tool that made it):
- C2PA manifests, read and validated with the C2PA library (c2pa-python): the claim
  generator, the signer, the actions and their IPTC digital source type;
- IPTC `DigitalSourceType` in XMP (e.g. `trainedAlgorithmicMedia`);
- generator metadata: EXIF Software, and PNG text chunks that image generators write
  (`parameters` of Stable Diffusion web UIs, `prompt`/`workflow` of ComfyUI, ...).
"""

import io
import json
import logging
import re

from PIL import Image, UnidentifiedImageError

from provenance.quality import signatures

logger = logging.getLogger(__name__)

IMAGE_MAX_BYTES = 64 * 1024 * 1024
Image.MAX_IMAGE_PIXELS = 100_000_000  # larger ones are refused, not decoded (bombs)

# IPTC NewsCodes digital source types that mean "made by a generative model", in part or whole.
AI_SOURCE_TYPES = {
    "trainedAlgorithmicMedia",
    "compositeWithTrainedAlgorithmicMedia",
    "algorithmicMedia",
    "compositeSynthetic",
    "algorithmicallyEnhanced",
}
_SOURCE_TYPE = re.compile(rb"digitalsourcetype/([A-Za-z]+)", re.IGNORECASE)
GENERATOR_NAMES = (
    "midjourney",
    "dall-e",
    "dall·e",
    "stable diffusion",
    "stablediffusion",
    "novelai",
    "firefly",
    "imagen",
    "comfyui",
    "automatic1111",
    "invokeai",
    "leonardo.ai",
    "ideogram",
    "flux",
    "sdxl",
)
GENERATOR_PNG_KEYS = (
    "parameters",
    "prompt",
    "workflow",
    "dream",
    "sd-metadata",
    "invokeai_metadata",
)
PARAMETERS = {
    "evidence": [
        "C2PA manifest (c2pa-python): digital source type of its actions",
        "IPTC DigitalSourceType in XMP",
        "EXIF Software / PNG text chunks naming an image generator",
    ],
    "ai_source_types": sorted(AI_SOURCE_TYPES),
    "generator_names": list(GENERATOR_NAMES),
    "generator_png_keys": list(GENERATOR_PNG_KEYS),
}


def _source_type_code(value: str) -> str:
    return value.rstrip("/").rsplit("/", 1)[-1]


def c2pa_facts(data: bytes, media_type: str) -> dict | None:
    """The active C2PA manifest's facts, or None when the file has none."""
    if b"c2pa" not in data:
        return None
    try:
        import c2pa
    except ImportError:  # pragma: no cover - a dependency of the project
        return {"error": "the C2PA library is not installed"}
    try:
        with c2pa.Reader(media_type, io.BytesIO(data)) as reader:
            store = json.loads(reader.json())
    except Exception as error:
        text = str(error)
        if "ManifestNotFound" in text or "no JUMBF" in text.lower():
            return None
        return {"error": f"unreadable C2PA manifest: {text[:200]}"}
    manifest = store.get("manifests", {}).get(store.get("active_manifest", ""), {})
    actions, source_types = [], set()
    for assertion in manifest.get("assertions", []):
        if not assertion.get("label", "").startswith("c2pa.actions"):
            continue
        for action in assertion.get("data", {}).get("actions", []):
            actions.append(action.get("action", ""))
            if action.get("digitalSourceType"):
                source_types.add(_source_type_code(action["digitalSourceType"]))
    generator = manifest.get("claim_generator", "")
    if not generator and manifest.get("claim_generator_info"):
        info = manifest["claim_generator_info"][0]
        generator = f"{info.get('name', '')} {info.get('version', '')}".strip()
    signature = manifest.get("signature_info", {})
    return {
        "claim_generator": generator,
        "signer": signature.get("common_name") or signature.get("issuer", ""),
        "actions": actions,
        "digital_source_types": sorted(source_types),
        "validation_state": store.get("validation_state", ""),
    }


def inspect_image(data: bytes, media_type: str) -> dict:
    """Format, size, perceptual hash and provenance signals of one image's bytes."""
    facts: dict = {"signals": []}
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            facts["format"] = image.format or "unknown"
            facts["width"], facts["height"] = image.size
            facts["phash"] = signatures.phash(image)
            info = dict(image.info)
            exif = image.getexif()
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as error:
        return {"error": f"not a readable image ({error.__class__.__name__})"}

    manifest = c2pa_facts(data, media_type)
    if manifest:
        facts["c2pa"] = manifest
        ai_types = sorted(set(manifest.get("digital_source_types", [])) & AI_SOURCE_TYPES)
        if ai_types:
            facts["signals"].append(
                {
                    "kind": "c2pa",
                    "detail": f"C2PA manifest by {manifest['signer'] or 'unknown signer'}: {', '.join(ai_types)}",
                }
            )
    xmp = info.get("xmp") or info.get("XML:com.adobe.xmp") or b""
    if isinstance(xmp, str):
        xmp = xmp.encode()
    for code in sorted({match.decode() for match in _SOURCE_TYPE.findall(xmp)}):
        if code in AI_SOURCE_TYPES:
            facts["signals"].append({"kind": "iptc", "detail": f"IPTC DigitalSourceType {code}"})
    software = str(exif.get(0x0131, "") or info.get("Software", ""))
    if any(name in software.lower() for name in GENERATOR_NAMES):
        facts["signals"].append({"kind": "generator", "detail": f"EXIF Software: {software[:80]}"})
    for key in GENERATOR_PNG_KEYS:
        value = info.get(key)
        if isinstance(value, str) and value:
            facts["signals"].append(
                {"kind": "generator", "detail": f"PNG text chunk '{key}' of an image generator"}
            )
            break
    return facts
