"""What wraps every request: error pages, security headers, the input guard, trusted hosts,
log hygiene and the template helpers."""
