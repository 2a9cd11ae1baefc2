Feature: Every other phrasing of the built-in steps

  Scenario: Alternative phrasings on the sign-up form
    Given I go to the home page
    And I follow "Sign up"
    When I fill "Name" with "Eve"
    And I fill in the following:
      | Email | eve@example.com |
    And I press "a" in "Your city"
    Then the "Your city" field should contain "a"
    And I see "About you" within "Sign-up form"
    And I do not see "Welcome, Eve!"
    And I wait for the text "Create your account"
    When I press "Create account"
    Then I should see the following items in "Your details":
      | name: Eve |
    And I should see "Welcome, Eve!"

  Scenario: Alternative phrasings on the products page
    Given I am on "/products"
    Then I should see the following rows in "Products":
      | Coffee | 4.20 |
