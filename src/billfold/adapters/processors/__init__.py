"""Payment processors behind the PaymentProcessor port."""
