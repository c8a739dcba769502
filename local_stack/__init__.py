"""Local stand-ins for the managed services, configured from cloudformation/template.yaml."""
