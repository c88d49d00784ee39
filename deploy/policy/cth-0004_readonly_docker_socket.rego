# METADATA
# title: Writable Docker socket
# custom:
#   id: CTH-0004
#   avd_id: CTH-0004
#   severity: CRITICAL
#   short_code: readonly-docker-socket
#   recommended_action: Mount /var/run/docker.sock read-only, behind a filtering proxy
#   input:
#     selector:
#       - type: yaml
package user.cloudtaskhub.readonly_docker_socket

import rego.v1

# For Compose/Swarm files, which Trivy has no built-in checks for (make lint-deploy).
services := object.get(input, "services", {})

deny contains res if {
	some name, svc in services
	some volume in object.get(svc, "volumes", [])
	writable_socket(volume)
	res := result.new(sprintf("service %q mounts the Docker socket writable", [name]), svc)
}

writable_socket(volume) if {
	is_string(volume)
	contains(volume, "docker.sock")
	not endswith(volume, ":ro")
}

writable_socket(volume) if {
	is_object(volume)
	contains(object.get(volume, "source", ""), "docker.sock")
	object.get(volume, "read_only", false) != true
}
