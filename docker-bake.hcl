# The three function images, for linux/amd64 and linux/arm64, from the repository root:
#   docker buildx bake -f docker-bake.hcl               # all three, tagged $REGISTRY/NAME:$VERSION
#   REGISTRY=ghcr.io/me VERSION=0.2.0 docker buildx bake -f docker-bake.hcl --push
#   docker buildx bake -f docker-bake.hcl reconcile --set '*.platform=linux/amd64' --load
# Name this file: without -f, bake also reads docker-compose.yml and merges its services
# of the same names into these targets. A multi-platform build needs a builder that can
# run arm64 (docker buildx create --use, and QEMU binfmt on an amd64 host); --load takes
# one platform only.

# knative/services.yaml names these images.
variable "REGISTRY" {
  default = "ghcr.io/qiskit-operator"
}

variable "VERSION" {
  default = "0.1.0"
}

# The Python base of the build stage (and of the final one unless RUNTIME_IMAGE is set). Where registry images cannot be pulled, images/base.sh
# builds one from Debian packages and `make images` passes it here.
variable "PYTHON_IMAGE" {
  default = "python:3.11-slim"
}

# The final stage's base, when it should differ from the build stage's: images/base.sh
# makes one without pip, setuptools and apt. Empty means PYTHON_IMAGE.
variable "RUNTIME_IMAGE" {
  default = ""
}

# Where the source lives, for the org.opencontainers.image.source label.
variable "SOURCE_URL" {
  default = ""
}

group "default" {
  targets = ["validate", "execute", "reconcile"]
}

target "_function" {
  context   = "."
  platforms = ["linux/amd64", "linux/arm64"]
  args = {
    VERSION       = VERSION
    SOURCE_URL    = SOURCE_URL
    PYTHON_IMAGE  = PYTHON_IMAGE
    RUNTIME_IMAGE = RUNTIME_IMAGE != "" ? RUNTIME_IMAGE : PYTHON_IMAGE
  }
}

target "validate" {
  inherits   = ["_function"]
  dockerfile = "Dockerfiles/validate.Dockerfile"
  tags       = ["${REGISTRY}/validate:${VERSION}"]
}

target "execute" {
  inherits   = ["_function"]
  dockerfile = "Dockerfiles/execute.Dockerfile"
  tags       = ["${REGISTRY}/execute:${VERSION}"]
}

target "reconcile" {
  inherits   = ["_function"]
  dockerfile = "Dockerfiles/reconcile.Dockerfile"
  tags       = ["${REGISTRY}/reconcile:${VERSION}"]
}
